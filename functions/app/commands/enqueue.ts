// Handing commands to the queue: mark them (pending → queued, last_enqueued_at) and push their ids. A
// push that fails leaves them marked but not queued; the sweeper re-enqueues such commands once they have
// waited longer than a queue message ever should, so a lost send loses nothing.
import type { Db } from '#store/db';
import { nextDueCommands } from '#store/commands/dispatch';
import { markEnqueued } from '#store/commands/lifecycle';
import type { Logger } from '#shared/logger';
import type { CommandQueue } from './ports.ts';

export interface EnqueueDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  commandQueue: CommandQueue;
}

/** Returns the ids pushed (commands still scheduled for later, or no longer open, are left alone). */
export async function enqueueCommands(deps: EnqueueDeps, commandIds: readonly string[]): Promise<string[]> {
  const ids = await markEnqueued(deps.db, commandIds, deps.now());
  if (ids.length) await deps.commandQueue.enqueue(ids);
  return ids;
}

/** As enqueueCommands, for callers whose own work is done: a failure is logged and left to the sweeper. */
export async function enqueueOrLeaveToSweeper(deps: EnqueueDeps, commandIds: readonly string[]): Promise<void> {
  try {
    await enqueueCommands(deps, commandIds);
  } catch (error) {
    deps.logger.warn('commands stored but not enqueued; the sweeper will enqueue them', { count: commandIds.length, error: error as Error });
  }
}

/**
 * Release on settle, for a command settled outside the dispatcher (cancelled): enqueue its device's next
 * due commands now, instead of when their queue message comes back. A failure is logged; the sweeper
 * enqueues them later.
 */
export async function releaseNext(deps: EnqueueDeps, deviceIds: readonly string[]): Promise<void> {
  try {
    const next = await nextDueCommands(deps.db, deviceIds, deps.now(), 500);
    if (next.length) await enqueueCommands(deps, next);
  } catch (error) {
    deps.logger.warn("a device's next commands were not released; the sweeper will enqueue them", { devices: deviceIds.length, error: error as Error });
  }
}
