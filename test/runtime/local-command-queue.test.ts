// The local command queue while the database is unreachable: a failed dispatch batch is retried with
// back-off until the database answers, nothing dropped, and the outage is logged once.
import { describe, expect, it } from 'vitest';
import type { DispatchResult } from '#app/commands/dispatcher';
import type { Logger } from '#shared/logger';
import { dispatchRetryDelay, LocalCommandQueue } from '#runtime/local-command-queue';

function recordingLogger() {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger;
  return { logger, lines };
}

const result = (sent: string[]): DispatchResult => ({ sent, retrying: [], failed: [], later: [], done: [], unknown: [], released: [] });

/** A dispatcher whose database is down for its first `failures` calls. */
function flakyDispatch(failures: number, error: () => Error = () => new Error('Connection terminated unexpectedly')) {
  const dispatched = new Set<string>();
  let calls = 0;
  return {
    dispatched,
    calls: () => calls,
    dispatch: async (ids: string[]) => {
      calls++;
      if (calls <= failures) throw error();
      for (const id of ids) dispatched.add(id);
      return result(ids);
    },
  };
}

function queue(dispatch: (ids: string[]) => Promise<DispatchResult>, logger: Logger) {
  return new LocalCommandQueue({ dispatch, enqueueLater: async () => undefined, logger, concurrency: 1, windowMs: 1, retryMaxMs: 50 });
}

describe('LocalCommandQueue while the database is unavailable', () => {
  it('retries the failed batch until it is dispatched, dropping nothing', async () => {
    const { logger } = recordingLogger();
    const flaky = flakyDispatch(4);
    const q = queue(flaky.dispatch, logger);

    await q.enqueue(['a', 'b', 'c']);
    await q.idle(10_000);

    expect([...flaky.dispatched].sort()).toEqual(['a', 'b', 'c']);
    expect(flaky.calls()).toBe(5);
    await q.stop();
  });

  it('logs the outage once as an error and its end once, not every retry', async () => {
    const { logger, lines } = recordingLogger();
    const flaky = flakyDispatch(4);
    const q = queue(flaky.dispatch, logger);

    await q.enqueue(['a']);
    await q.idle(10_000);

    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(lines.filter((l) => l.level === 'info' && l.message.includes('database is back'))).toHaveLength(1);
    await q.stop();
  });

  it('logs every failure that is not the database being unavailable', async () => {
    const { logger, lines } = recordingLogger();
    const flaky = flakyDispatch(2, () => new TypeError('a bug'));
    const q = queue(flaky.dispatch, logger);

    await q.enqueue(['a']);
    await q.idle(10_000);

    expect(lines.filter((l) => l.level === 'error')).toHaveLength(2);
    await q.stop();
  });
});

describe('dispatchRetryDelay', () => {
  it('starts near 100 ms', () => {
    const first = dispatchRetryDelay(1);

    expect(first).toBeGreaterThanOrEqual(80);
    expect(first).toBeLessThanOrEqual(120);
  });

  it('doubles and stops growing at the cap', () => {
    const fourth = dispatchRetryDelay(4, 5_000);
    const late = dispatchRetryDelay(30, 5_000);

    expect(fourth).toBeGreaterThanOrEqual(640);
    expect(fourth).toBeLessThanOrEqual(960);
    expect(late).toBeGreaterThanOrEqual(4_000);
    expect(late).toBeLessThanOrEqual(6_000);
  });
});
