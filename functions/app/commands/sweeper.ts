// The sweeper (every minute, EventBridge in the cloud and the in-process scheduler locally): expires
// commands that waited too long, and re-enqueues those that are due but not in the queue: lost between
// the database write and the queue send, scheduled and now due, or past their retry backoff; and sent
// commands of unknown delivery whose device queue is due to be listed. A device whose command expired has
// its next due command released (enqueued) at once.
import type { Db } from '#store/db';
import { nextDueCommands } from '#store/commands/dispatch';
import { expireCommands, markEnqueued, takeDueCommands } from '#store/commands/lifecycle';
import type { Logger } from '#shared/logger';
import type { CommandQueue } from './ports.ts';

export interface SweepDeps {
  db: Db;
  logger: Logger;
  commandQueue: CommandQueue;
  /** A command enqueued longer ago than this and still not dispatched is taken to be lost. @default 2 min */
  stuckAfterMs?: number;
  /** Most commands re-enqueued per sweep (the rest wait for the next). @default 5000 */
  limit?: number;
}

export interface SweepResult {
  expired: number;
  requeued: number;
  /** Commands enqueued because an older command of their device expired (release on settle). */
  released: number;
}

export async function sweep(deps: SweepDeps, now: Date): Promise<SweepResult> {
  const expired = await expireCommands(deps.db, now);
  const due = await takeDueCommands(deps.db, now, new Date(now.getTime() - (deps.stuckAfterMs ?? 120_000)), deps.limit ?? 5_000);
  const released = expired.length ? (await markEnqueued(deps.db, await nextDueCommands(deps.db, [...new Set(expired.map((e) => e.device_id))], now, deps.limit ?? 5_000), now)).filter((id) => !due.includes(id)) : [];
  const push = [...due, ...released];
  if (push.length) {
    try {
      await deps.commandQueue.enqueue(push);
    } catch (error) {
      // They stay marked; the next sweep after stuckAfterMs tries again.
      deps.logger.error('sweeper: re-enqueue failed', { count: push.length, error: error as Error });
      throw error;
    }
  }
  if (expired.length || push.length) deps.logger.info('command sweep', { expired: expired.length, requeued: due.length, released: released.length });
  return { expired: expired.length, requeued: due.length, released: released.length };
}
