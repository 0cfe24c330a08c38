// The local stand-in for the SQS command queue: command ids in micro-batches to the dispatcher, and a timer
// for each command the dispatcher says is due later (further ahead than the horizon, the sweeper finds it).
import type { DispatchResult } from '#app/commands/dispatcher';
import type { CommandQueue } from '#app/commands/ports';
import { backoffDelayMs } from '#domain/commands';
import type { Logger } from '#shared/logger';
import { MicroBatcher } from './batcher.ts';
import { OutageLog } from './outage.ts';

interface LocalCommandQueueOptions {
  dispatch: (ids: string[]) => Promise<DispatchResult>;
  /** Hand back commands that came due (scheduled, past their backoff, behind an older command). */
  enqueueLater: (ids: string[]) => Promise<void>;
  logger: Logger;
  concurrency: number;
  maxBatch?: number;
  windowMs?: number;
  /** Commands due further ahead than this are left to the sweeper rather than held in a timer. */
  horizonMs?: number;
  /** Longest wait before a failed batch (the database unreachable) is tried again. @default 5000 */
  retryMaxMs?: number;
}

/** Back-off for a failed dispatch batch: 100 ms doubling to `maxMs`, with ±20% jitter so batches spread out. */
export function dispatchRetryDelay(attempt: number, maxMs = 5_000): number {
  return Math.round(backoffDelayMs(attempt, { baseMs: 100, factor: 2, maxMs }) * (0.8 + Math.random() * 0.4));
}

/**
 * The local stand-in for the SQS command queue: command ids in micro-batches to the dispatcher, and a
 * timer for each command the dispatcher says is due later. Delivery is at least once, as with SQS; the
 * dispatcher's claim makes sending once.
 */
export class LocalCommandQueue implements CommandQueue {
  private readonly batcher: MicroBatcher<string>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private unsettled = 0;
  private stopped = false;

  constructor(private readonly options: LocalCommandQueueOptions) {
    // While the database is unreachable every batch fails and is retried with back-off, nothing dropped:
    // the outage is logged once, and its end once.
    const outage = new OutageLog(options.logger, 'command dispatch');
    this.batcher = new MicroBatcher<string>({
      maxSize: options.maxBatch ?? 500,
      maxWaitMs: options.windowMs ?? 5,
      concurrency: options.concurrency,
      handle: async (ids) => {
        const result = await options.dispatch(ids);
        outage.succeeded();
        for (const item of [...result.later, ...result.retrying]) this.later(item.id, item.at);
        return [];
      },
      onError: (error, ids) => outage.failed(error, { commands: ids.length }, 'command dispatch failed; retrying the batch'),
      retryDelayMs: (attempt) => dispatchRetryDelay(attempt, options.retryMaxMs),
    });
  }

  /** Commands pushed and not yet through the dispatcher. */
  get pending(): number {
    return this.unsettled;
  }

  async enqueue(commandIds: string[]): Promise<void> {
    if (this.stopped) throw new Error('the command queue is stopping');
    for (const id of commandIds) {
      this.unsettled++;
      this.batcher.push(id).then(
        () => this.unsettled--,
        (error: unknown) => {
          this.unsettled--;
          this.options.logger.warn('command left to the sweeper', { commandId: id, error: error as Error });
        },
      );
    }
  }

  private later(id: string, at: Date): void {
    if (this.stopped) return;
    const delay = Math.max(0, at.getTime() - Date.now());
    if (delay > (this.options.horizonMs ?? 15 * 60_000)) return;
    clearTimeout(this.timers.get(id));
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.options.enqueueLater([id]).catch((error: unknown) => this.options.logger.warn('command left to the sweeper', { commandId: id, error: error as Error }));
    }, delay);
    timer.unref();
    this.timers.set(id, timer);
  }

  /** Wait until every pushed command has been through the dispatcher (bounded). */
  async idle(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.unsettled > 0) {
      if (Date.now() > until) throw new Error(`command queue not idle after ${timeoutMs} ms (${this.unsettled} pending)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Stop taking commands, drop the timers (the sweeper finds those commands), finish what is queued. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.batcher.drain();
  }
}

