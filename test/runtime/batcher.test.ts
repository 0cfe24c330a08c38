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

  it('holds at most maxInFlight items: tryPush refuses when full, push waits for an item to settle', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const b = new MicroBatcher<number>({ maxSize: 2, maxWaitMs: 1, concurrency: 1, maxInFlight: 3, handle: async () => (await gate, []), onError: () => undefined });
    const first = [1, 2, 3].map((n) => b.tryPush(n));
    let fourthQueued = false;
    const fourth = b.push(4).then(() => (fourthQueued = true));

    const refused = b.tryPush(5);
    const heldWhileFull = b.inFlight;
    const fourthBeforeRoom = fourthQueued;
    open();
    await Promise.all([...first, fourth]);

    expect(first.every((p) => p !== undefined)).toBe(true);
    expect(refused).toBeUndefined();
    expect(heldWhileFull).toBe(3);
    expect(fourthBeforeRoom).toBe(false);
    expect(b.inFlight).toBe(0);
  });

  it('still hands bounded items over in batches, not one at a time', async () => {
    const batches: number[] = [];
    const b = new MicroBatcher<number>({ maxSize: 5, maxWaitMs: 5, concurrency: 1, maxInFlight: 10, handle: async (items) => (batches.push(items.length), []), onError: () => undefined });

    await Promise.all(Array.from({ length: 20 }, (_, i) => b.push(i)));

    expect(batches.reduce((a, n) => a + n, 0)).toBe(20);
    expect(Math.max(...batches)).toBe(5);
  });

  it('keeps an item that keeps failing in flight, holding its slot, until it is written', async () => {
    let failures = 3;
    const b = new MicroBatcher<string>({ maxSize: 10, maxWaitMs: 1, concurrency: 1, maxInFlight: 1, retryDelayMs: () => 1, handle: async (items) => (failures-- > 0 ? items : []), onError: () => undefined });
    const written = b.push('x');

    const refusedWhileRetrying = b.tryPush('y');
    await written;

    expect(refusedWhileRetrying).toBeUndefined();
    expect(failures).toBe(-1);
    expect(b.hasRoom).toBe(true);
  });

  it('rejects pushes still waiting for room when drained', async () => {
    const b = new MicroBatcher<number>({ maxSize: 10, maxWaitMs: 1, concurrency: 1, maxInFlight: 1, handle: async () => [], onError: () => undefined });
    const first = b.push(1);
    const waiting = b.push(2);

    await b.drain();

    await first;
    await expect(waiting).rejects.toThrow(/shutting down/);
  });
});
