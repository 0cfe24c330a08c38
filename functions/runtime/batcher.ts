// In-process micro-batching, the local stand-in for SQS batching: items are grouped by count and time
// and handed to one handler call per batch. At most `concurrency` batches run at once; each pushed item
// gets a promise that settles when its batch has been handled (the HTTP integration answers and MQTT
// ingestion acknowledges only then). With `maxInFlight` the batcher holds at most that many items
// (queued, being handled, or waiting out a retry): push() waits for room, tryPush() says when there is
// none, so a producer slows down to the pace of the handler instead of filling memory.

interface BatcherOptions<T> {
  maxSize: number;
  maxWaitMs: number;
  concurrency: number;
  /** Handle a batch; return the items to try again (e.g. the database was unavailable). */
  handle: (items: T[]) => Promise<T[]>;
  onError: (error: unknown, items: T[]) => void;
  /** Delay before a batch's retried items go back in the queue (attempt 1, 2, ...). */
  retryDelayMs?: (attempt: number) => number;
  /** Most items held at once, from push until settled (default: no limit). */
  maxInFlight?: number;
}

interface Entry<T> {
  item: T;
  attempt: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class MicroBatcher<T> {
  private queue: Entry<T>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private readonly batches = new Set<Promise<void>>();
  private readonly retryTimers = new Map<NodeJS.Timeout, Entry<T>[]>();
  private closed = false;
  /** Items pushed and not yet settled. */
  private held = 0;
  private readonly roomWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly options: BatcherOptions<T>) {}

  get pending(): number {
    return this.queue.length;
  }

  /** Items pushed and not yet settled (queued, being handled, or waiting out a retry). */
  get inFlight(): number {
    return this.held;
  }

  get hasRoom(): boolean {
    return this.held < (this.options.maxInFlight ?? Infinity);
  }

  /** Wait for room, then queue the item; the promise settles when its batch has been handled. */
  push(item: T): Promise<void> {
    return this.tryPush(item) ?? this.room().then(() => this.push(item));
  }

  /** Queue the item now if there is room (undefined when full); the promise settles as push()'s does. */
  tryPush(item: T): Promise<void> | undefined {
    if (this.closed) return Promise.reject(shuttingDown());
    if (!this.hasRoom) return undefined;
    this.held++;
    return new Promise<void>((resolve, reject) => {
      const settle = () => {
        this.held--;
        this.roomWaiters.shift()?.resolve();
      };
      this.queue.push({ item, attempt: 0, resolve: () => (settle(), resolve()), reject: (e) => (settle(), reject(e)) });
      this.schedule();
    });
  }

  /** Resolves when an item may be pushed (at once if there is room); rejects once the batcher drains. */
  room(): Promise<void> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (this.hasRoom) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.roomWaiters.push({ resolve, reject }));
  }

  private schedule(): void {
    if (this.queue.length >= this.options.maxSize) {
      this.pump();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, this.options.maxWaitMs);
  }

  private pump(): void {
    while (this.queue.length > 0 && this.running < this.options.concurrency) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      const batch = this.queue.splice(0, this.options.maxSize);
      this.running++;
      const work = this.run(batch).finally(() => {
        this.running--;
        this.batches.delete(work);
        if (this.queue.length >= this.options.maxSize || (this.closed && this.queue.length)) this.pump();
        else if (this.queue.length) this.schedule();
      });
      this.batches.add(work);
    }
  }

  private async run(batch: Entry<T>[]): Promise<void> {
    let retry: T[];
    try {
      retry = await this.options.handle(batch.map((e) => e.item));
    } catch (error) {
      this.options.onError(error, batch.map((e) => e.item));
      retry = batch.map((e) => e.item);
    }
    const again = new Set(retry);
    const retried: Entry<T>[] = [];
    for (const entry of batch) {
      if (again.has(entry.item)) retried.push({ ...entry, attempt: entry.attempt + 1 });
      else entry.resolve();
    }
    if (!retried.length) return;
    if (this.closed) {
      for (const e of retried) e.reject(new Error('not stored: shutting down while the database was unavailable'));
      return;
    }
    const attempt = Math.max(...retried.map((e) => e.attempt));
    const delay = this.options.retryDelayMs?.(attempt) ?? Math.min(30_000, 200 * 2 ** attempt);
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.queue.unshift(...retried);
      this.schedule();
    }, delay);
    this.retryTimers.set(timer, retried);
  }

  /** Stop accepting items, handle what is queued, and wait for batches in flight. */
  async drain(): Promise<void> {
    this.closed = true;
    for (const waiter of this.roomWaiters.splice(0)) waiter.reject(shuttingDown());
    // Items waiting out a retry delay get one last attempt now instead of being dropped silently.
    for (const [timer, entries] of this.retryTimers) {
      clearTimeout(timer);
      this.queue.unshift(...entries);
    }
    this.retryTimers.clear();
    this.pump();
    while (this.batches.size) await Promise.allSettled([...this.batches]);
  }
}

const shuttingDown = () => new Error('ingestion is shutting down');
