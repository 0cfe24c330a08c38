// Vitest global setup: the operator portal's build (web/dist), which the platform serves at `/`, made
// once per run when it is missing or older than its sources — what `npm start` does with `prestart`.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const web = fileURLToPath(new URL('../../web', import.meta.url));

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestSource(full));
    else newest = Math.max(newest, (await stat(full)).mtimeMs);
  }
  return newest;
}

export default async function buildPortal(): Promise<void> {
  const sources = Math.max(
    await newestSource(path.join(web, 'src')),
    (await stat(path.join(web, 'index.html'))).mtimeMs,
    (await stat(path.join(web, 'vite.config.ts'))).mtimeMs,
    (await stat(fileURLToPath(new URL('../../package-lock.json', import.meta.url)))).mtimeMs,
  );
  const built = await stat(path.join(web, 'dist', 'index.html')).then((s) => s.mtimeMs, () => 0);
  if (built > sources) return;
  await build({ configFile: path.join(web, 'vite.config.ts'), logLevel: 'warn' });
}
