import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '#runtime/batcher';

describe('micro-batcher', () => {
  it('groups items by size and time, one handler call per batch', async () => {
    const batches: number[][] = [];
    const b = new MicroBatcher<number>({ maxSize: 3, maxWaitMs: 10, concurrency: 1, handle: async (items) => (batches.push(items), []), onError: () => undefined });

    await Promise.all([1, 2, 3, 4, 5].map((n) => b.push(n)));

    expect(batches).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('retries the items a batch hands back, then settles them', async () => {
    let calls = 0;
    const b = new MicroBatcher<string>({ maxSize: 10, maxWaitMs: 1, concurrency: 1, retryDelayMs: () => 1, handle: async (items) => (++calls === 1 ? items : []), onError: () => undefined });

    await b.push('x');

    expect(calls).toBe(2);
  });

  it('handles what is queued when drained, and refuses new items after', async () => {
    const seen: number[] = [];
    const b = new MicroBatcher<number>({ maxSize: 100, maxWaitMs: 10_000, concurrency: 1, handle: async (items) => (seen.push(...items), []), onError: () => undefined });
    const pending = b.push(1);

    await b.drain();

    await pending;
    expect(seen).toEqual([1]);
    await expect(b.push(2)).rejects.toThrow(/shutting down/);
  });

  it('gives items waiting out a retry one last attempt when drained, and rejects them if it fails', async () => {
    let calls = 0;
    const b = new MicroBatcher<string>({ maxSize: 10, maxWaitMs: 1, concurrency: 1, retryDelayMs: () => 60_000, handle: async (items) => (++calls, items), onError: () => undefined });
    const pending = b.push('x');
    await new Promise((r) => setTimeout(r, 20));

    await b.drain();

    await expect(pending).rejects.toThrow(/not stored/);
    expect(calls).toBe(2);
  });
});
