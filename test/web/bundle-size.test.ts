// The operator portal stays light: its JavaScript under 200 KB gzipped (issue 14), and the page loads
// nothing from another host. Measured on the build the tests' global setup made (web/dist).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../web/dist', import.meta.url));
const BUDGET_GZIP_BYTES = 200 * 1024;

describe('the portal build', () => {
  it('ships under 200 KB of gzipped JavaScript', async () => {
    const assets = await readdir(path.join(dist, 'assets'));
    const scripts = assets.filter((f) => f.endsWith('.js'));

    const sizes = await Promise.all(scripts.map(async (f) => gzipSync(await readFile(path.join(dist, 'assets', f)), { level: 9 }).length));
    const total = sizes.reduce((a, b) => a + b, 0);

    expect(scripts.length).toBeGreaterThan(0);
    console.info(`portal JavaScript: ${scripts.length} file(s), ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET_GZIP_BYTES / 1024} KB)`);
    expect(total).toBeLessThan(BUDGET_GZIP_BYTES);
  });

  it('names only its own /assets in the page: no CDN, no other host', async () => {
    const html = await readFile(path.join(dist, 'index.html'), 'utf8');

    const refs = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1] ?? '');

    expect(refs.length).toBeGreaterThan(1);
    for (const ref of refs) expect(ref, ref).toMatch(/^(\/assets\/|data:)/);
  });
});
