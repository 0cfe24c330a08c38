// One platform per DATA_DIR: the lock file refuses a second owner while the first lives and is taken over
// when its owner is gone. The last test runs real platform processes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, lockDataDir, lockFileName } from '#runtime/data-dir-lock';
import { spawnPlatform, type PlatformProcess } from '../support/platform-process.ts';

const dirs: string[] = [];
const processes: PlatformProcess[] = [];
afterEach(async () => {
  for (const p of processes.splice(0)) p.kill();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'quantify-lock-'));
  dirs.push(dir);
  return dir;
}

const lockOf = (pid: number, processStart: string | null) => JSON.stringify({ pid, processStart, startedAt: '2026-01-01T00:00:00.000Z', host: 'elsewhere' });
const startOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
};

describe('data directory lock', () => {
  it('refuses a second lock while the first is held, naming the owner and the directory', async () => {
    const dir = await tempDir();
    const first = await lockDataDir(dir);

    const second = lockDataDir(dir);

    await expect(second).rejects.toThrow(DataDirInUseError);
    await expect(second).rejects.toThrow(new RegExp(`DATA_DIR ${dir} is in use by another Quantify platform \\(pid ${process.pid}`));
    await first.stop();
  });

  it('is free again after stop', async () => {
    const dir = await tempDir();
    const first = await lockDataDir(dir);

    await first.stop();
    const second = await lockDataDir(dir);

    expect(await stat(second.path)).toBeTruthy();
    await second.stop();
  });

  it('takes over a lock whose process is gone', async () => {
    const dir = await tempDir();
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(path.join(dir, lockFileName), lockOf(gone, null));

    const lock = await lockDataDir(dir);

    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.stop();
  });

  it.runIf(process.platform === 'linux')('takes over a lock whose pid now belongs to a process started later', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, lockFileName), lockOf(process.ppid, '1'));

    const lock = await lockDataDir(dir);

    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.stop();
  });

  it.runIf(process.platform === 'linux')('refuses a lock whose owner still runs', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, lockFileName), lockOf(process.ppid, startOf(process.ppid)));

    const lock = lockDataDir(dir);

    await expect(lock).rejects.toThrow(new RegExp(`pid ${process.ppid} on elsewhere`));
  });

  it('takes over a lock file it cannot read as a lock', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, lockFileName), 'not json');

    const lock = await lockDataDir(dir);

    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.stop();
  });

  it('refuses a second platform process on the same DATA_DIR, and starts once the first was killed', async () => {
    const dataDir = await tempDir();
    const first = spawnPlatform({ DATA_DIR: dataDir });
    processes.push(first);
    await first.waitFor(/Quantify is running/);

    const second = spawnPlatform({ DATA_DIR: dataDir });
    processes.push(second);
    const secondExit = await second.exited;
    first.child.kill('SIGKILL');
    await first.exited;
    const third = spawnPlatform({ DATA_DIR: dataDir });
    processes.push(third);
    await third.waitFor(/Quantify is running/);
    third.child.kill('SIGTERM');
    const thirdExit = await third.exited;

    expect(secondExit).toBe('1');
    expect(second.output()).toContain(`DATA_DIR ${dataDir} is in use by another Quantify platform (pid ${first.pid}`);
    expect(thirdExit).toBe('0');
    expect(third.output()).toMatch(/stopped cleanly/);
  }, 240_000);
});
