// One platform per DATA_DIR: two writers on one PGlite directory corrupt it, and two platforms on one
// data directory would share a signing key and fight over the same broker session. The lock is a file,
// DATA_DIR/platform.lock, holding the owner's pid and start time; it is created complete and atomically
// (written to a private file, then hard-linked into place, which fails if the lock exists). A lock whose
// process is gone (a crash, SIGKILL) is stale and taken over; "gone" means no process with that pid, or
// one that started at another time (the pid was reused), or this very process when it does not hold
// the lock (a container restarted under the same pid).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const lockFileName = 'platform.lock';

/** The lock files this process holds (a second platform in the same process is refused too). */
const heldHere = new Set<string>();

interface LockOwner {
  pid: number;
  /** The process's start time as the OS counts it (Linux: clock ticks since boot), when known. */
  processStart: string | null;
  startedAt: string;
  host: string;
}

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

export interface DataDirLock {
  path: string;
  stop(): Promise<void>;
}

/** Take DATA_DIR's lock, taking over a stale one; refuses with DataDirInUseError while its owner lives. */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const lockPath = path.join(dataDir, lockFileName);
  const owner: LockOwner = { pid: process.pid, processStart: processStart(process.pid), startedAt: new Date().toISOString(), host: os.hostname() };
  const content = `${JSON.stringify(owner)}\n`;
  const draft = path.join(dataDir, `.${lockFileName}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await writeFile(draft, content, { flag: 'wx' });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(draft, lockPath);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error;
      }
      await takeOverIfStale(lockPath, dataDir);
    }
  } finally {
    await unlink(draft).catch(() => undefined);
  }
  heldHere.add(lockPath);
  return {
    path: lockPath,
    // Removed only if it is still ours.
    stop: async () => {
      heldHere.delete(lockPath);
      const now = await readFile(lockPath, 'utf8').catch(() => undefined);
      if (now === content) await unlink(lockPath).catch(() => undefined);
    },
  };
}

/** Remove the lock if its owner is gone; throw DataDirInUseError if it lives. */
async function takeOverIfStale(lockPath: string, dataDir: string): Promise<void> {
  const found = await readFile(lockPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (found === undefined) return; // released meanwhile: try again
  const owner = parseOwner(found);
  if (owner && (isAlive(owner) || heldHere.has(lockPath))) throw inUse(dataDir, owner);
  // Moved aside under a name of our own, then checked: if another start took the lock over between our
  // read and the move, what we moved is its live lock, and it goes back.
  const aside = `${lockPath}.stale-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readFile(aside, 'utf8');
  if (moved !== found) {
    await link(aside, lockPath).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    const other = parseOwner(moved);
    if (other) throw inUse(dataDir, other);
    return;
  }
  await unlink(aside).catch(() => undefined);
}

function inUse(dataDir: string, owner: LockOwner): DataDirInUseError {
  return new DataDirInUseError(
    `DATA_DIR ${dataDir} is in use by another Quantify platform (pid ${owner.pid} on ${owner.host}, started ${owner.startedAt}). ` +
      'Stop that one first, or give this one another DATA_DIR.',
  );
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid !== 'number' || !Number.isInteger(value.pid) || value.pid <= 0) return undefined;
    return { pid: value.pid, processStart: typeof value.processStart === 'string' ? value.processStart : null, startedAt: String(value.startedAt), host: String(value.host) };
  } catch {
    // Not a lock we wrote (locks are created complete): treat as stale.
    return undefined;
  }
}

function isAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: it exists, owned by another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.processStart === null) return true;
  const start = processStart(owner.pid);
  return start === null || start === owner.processStart;
}

/** Linux: field 22 of /proc/<pid>/stat (start time in clock ticks after boot); null elsewhere. */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; fields after it start at 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
