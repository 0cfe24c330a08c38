// The sweeper (every minute, EventBridge in the cloud and the in-process scheduler locally): expires
// commands that waited too long, and re-enqueues those that are due but not in the queue: lost between
// the database write and the queue send, scheduled and now due, or past their retry backoff.
import type { Db } from '#store/db';
import { expireCommands, takeDueCommands } from '#store/commands/lifecycle';
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
}

export async function sweep(deps: SweepDeps, now: Date): Promise<SweepResult> {
  const expired = await expireCommands(deps.db, now);
  const due = await takeDueCommands(deps.db, now, new Date(now.getTime() - (deps.stuckAfterMs ?? 120_000)), deps.limit ?? 5_000);
  if (due.length) {
    try {
      await deps.commandQueue.enqueue(due);
    } catch (error) {
      // They stay marked; the next sweep after stuckAfterMs tries again.
      deps.logger.error('sweeper: re-enqueue failed', { count: due.length, error: error as Error });
      throw error;
    }
  }
  if (expired.length || due.length) deps.logger.info('command sweep', { expired: expired.length, requeued: due.length });
  return { expired: expired.length, requeued: due.length };
}
