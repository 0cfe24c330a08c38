// The collector's on-disk buffer: order kept across a reopen, bounded by dropping the oldest with a
// count, crash leftovers ignored, refused files set aside with their reason.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskBuffer } from '../../functions/collector/buffer.ts';

describe('collector disk buffer', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'quantify-buffer-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives readings back oldest first after a restart, in whole cycle files', async () => {
    const first = await DiskBuffer.open(dir, 1000);
    await first.append([{ n: 1 }, { n: 2 }]);
    await first.append([{ n: 3 }]);
    await first.append([{ n: 4 }, { n: 5 }]);

    const reopened = await DiskBuffer.open(dir, 1000);
    const batch = await reopened.peek(3);
    await reopened.remove(batch.files);
    await reopened.append([{ n: 6 }]);
    const rest = await reopened.peek(100);

    expect(batch.readings).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(rest.readings).toEqual([{ n: 4 }, { n: 5 }, { n: 6 }]);
    expect(reopened.stats()).toMatchObject({ files: 2, readings: 3 });
  });

  it('drops the oldest readings only past its bound, and says how many', async () => {
    const dropped: number[] = [];
    const buffer = await DiskBuffer.open(dir, 4, (readings) => dropped.push(readings));

    await buffer.append([1, 2]);
    await buffer.append([3, 4]);
    await buffer.append([5, 6]);

    expect(dropped).toEqual([2]);
    expect((await buffer.peek(100)).readings).toEqual([3, 4, 5, 6]);
    expect(buffer.stats()).toMatchObject({ readings: 4, droppedReadings: 2 });
  });

  it('ignores a half-written file a crash left and keeps counting after the last sequence', async () => {
    const buffer = await DiskBuffer.open(dir, 100);
    await buffer.append(['a']);
    await writeFile(path.join(dir, '0000000000000002-1.json.tmp'), '["tr');

    const reopened = await DiskBuffer.open(dir, 100);
    await reopened.append(['b']);

    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect((await reopened.peek(100)).readings).toEqual(['a', 'b']);
  });

  it('sets a refused file aside with the reason, out of the way of the next ones', async () => {
    const buffer = await DiskBuffer.open(dir, 100);
    await buffer.append(['bad']);
    await buffer.append(['good']);
    const { files } = await buffer.peek(1);

    await buffer.reject(files, 'HTTP 400: invalid body');

    expect((await buffer.peek(100)).readings).toEqual(['good']);
    expect(await readFile(path.join(dir, 'rejected', `${files[0]!}.reason.txt`), 'utf8')).toBe('HTTP 400: invalid body\n');
    expect((await DiskBuffer.open(dir, 100)).stats()).toMatchObject({ readings: 1, rejectedFiles: 1 });
  });
});
