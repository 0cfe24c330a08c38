// The collector's on-disk buffer: every poll cycle's readings are written here first, one file per cycle
// (`<sequence>-<count>.json`, written to a temporary name and renamed, so a crash leaves whole files
// only), and the sender posts them oldest first and deletes them once the platform has stored them. It
// survives restarts and is bounded: past `maxReadings` the oldest files are dropped, and the count is
// logged. A file the platform refuses as malformed is moved to `rejected/` with the reason, not retried.
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

interface Entry {
  name: string;
  seq: number;
  count: number;
}

export interface BufferBatch {
  files: string[];
  readings: unknown[];
}

export interface BufferStats {
  files: number;
  readings: number;
  droppedReadings: number;
  rejectedFiles: number;
}

const FILE = /^(\d{16})-(\d+)\.json$/;

export class DiskBuffer {
  private entries: Entry[] = [];
  private nextSeq = 1;
  private dropped = 0;
  private rejected = 0;
  private total = 0;

  private constructor(
    readonly dir: string,
    private readonly maxReadings: number,
    private readonly onDrop: (readings: number, files: number) => void,
  ) {}

  static async open(dir: string, maxReadings: number, onDrop: (readings: number, files: number) => void = () => undefined): Promise<DiskBuffer> {
    await mkdir(path.join(dir, 'rejected'), { recursive: true });
    const buffer = new DiskBuffer(dir, maxReadings, onDrop);
    for (const name of (await readdir(dir)).sort()) {
      const m = FILE.exec(name);
      if (!m) {
        // A temporary file a crash left behind was never renamed: its cycle was never acknowledged as buffered.
        if (name.endsWith('.tmp')) await unlink(path.join(dir, name)).catch(() => undefined);
        continue;
      }
      buffer.entries.push({ name, seq: Number(m[1]), count: Number(m[2]) });
      buffer.total += Number(m[2]);
    }
    buffer.nextSeq = (buffer.entries.at(-1)?.seq ?? 0) + 1;
    buffer.rejected = (await readdir(path.join(dir, 'rejected'))).filter((n) => FILE.test(n)).length;
    return buffer;
  }

  stats(): BufferStats {
    return { files: this.entries.length, readings: this.total, droppedReadings: this.dropped, rejectedFiles: this.rejected };
  }

  /** Keep a cycle's readings (in order after everything already buffered). */
  async append(readings: unknown[]): Promise<void> {
    if (readings.length === 0) return;
    const seq = this.nextSeq++;
    const name = `${String(seq).padStart(16, '0')}-${readings.length}.json`;
    const tmp = path.join(this.dir, `${name}.tmp`);
    await writeFile(tmp, JSON.stringify(readings));
    await rename(tmp, path.join(this.dir, name));
    this.entries.push({ name, seq, count: readings.length });
    this.total += readings.length;
    await this.enforceBound();
  }

  private async enforceBound(): Promise<void> {
    let readings = 0;
    let files = 0;
    // The newest file always stays, even alone above the bound.
    while (this.total > this.maxReadings && this.entries.length > 1) {
      const oldest = this.entries.shift();
      if (!oldest) break;
      await unlink(path.join(this.dir, oldest.name)).catch(() => undefined);
      this.total -= oldest.count;
      readings += oldest.count;
      files++;
    }
    if (readings) {
      this.dropped += readings;
      this.onDrop(readings, files);
    }
  }

  /** The oldest files, whole, up to `maxReadings` readings (at least one file). */
  async peek(maxReadings: number): Promise<BufferBatch> {
    const batch: BufferBatch = { files: [], readings: [] };
    for (const entry of this.entries) {
      if (batch.files.length > 0 && batch.readings.length + entry.count > maxReadings) break;
      const file = path.join(this.dir, entry.name);
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        await this.reject([entry.name], `unreadable buffer file: ${(error as Error).message}`);
        return this.peek(maxReadings);
      }
      batch.files.push(entry.name);
      batch.readings.push(...(Array.isArray(parsed) ? (parsed as unknown[]) : []));
    }
    return batch;
  }

  /** The platform stored these: forget them. */
  async remove(files: string[]): Promise<void> {
    for (const name of files) {
      const i = this.entries.findIndex((e) => e.name === name);
      if (i < 0) continue;
      const [entry] = this.entries.splice(i, 1);
      this.total -= entry?.count ?? 0;
      await unlink(path.join(this.dir, name)).catch(() => undefined);
    }
  }

  /** Set aside what can never be posted, with the reason next to it. */
  async reject(files: string[], reason: string): Promise<void> {
    for (const name of files) {
      const i = this.entries.findIndex((e) => e.name === name);
      if (i < 0) continue;
      const [entry] = this.entries.splice(i, 1);
      this.total -= entry?.count ?? 0;
      await rename(path.join(this.dir, name), path.join(this.dir, 'rejected', name)).catch(() => undefined);
      await writeFile(path.join(this.dir, 'rejected', `${name}.reason.txt`), `${reason}\n`);
      this.rejected++;
    }
  }
}
