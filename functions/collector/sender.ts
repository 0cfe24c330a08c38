// Posts the buffer to the platform, oldest first, in batches of whole cycle files: `POST {api}/readings`
// with the collector's bearer token. 2xx: the files are deleted. The platform unreachable, 5xx, 429, or
// the credential refused (401/403, fixable without losing data): kept, retried with back-off (1 s doubling
// to 60 s). Any other 4xx means the batch itself is malformed: set aside in rejected/ with the answer.
import { backoffDelayMs } from '#domain/commands';
import type { DiskBuffer } from './buffer.ts';
import type { TokenSource } from './token.ts';

export interface SenderStatus {
  platformReachable: boolean | null;
  postedReadings: number;
  posts: number;
  lastPostAt: string | null;
  lastError: string | null;
  consecutiveFailures: number;
}

export interface PostAnswer {
  status: number;
  body: string;
}

export type Post = (readings: unknown[]) => Promise<PostAnswer>;

/**
 * `fetch` to the platform's POST /readings with the credential's bearer token, bounded by the API timeout.
 * A 401 with a token that can be renewed (client credentials) is retried once with a new one.
 */
export function httpPost(apiBaseUrl: string, tokens: TokenSource, timeoutMs: number): Post {
  const once = async (token: string | undefined, readings: unknown[]) => {
    const response = await fetch(`${apiBaseUrl}/readings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ readings }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, body: await response.text() };
  };
  return async (readings) => {
    const token = await tokens.get();
    const answer = await once(token, readings);
    if (answer.status !== 401 || !tokens.refused(token)) return answer;
    return once(await tokens.get(), readings);
  };
}

const RETRY = { baseMs: 1_000, factor: 2, maxMs: 60_000 };

export class Sender {
  readonly status: SenderStatus = { platformReachable: null, postedReadings: 0, posts: 0, lastPostAt: null, lastError: null, consecutiveFailures: 0 };
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly buffer: DiskBuffer,
    private readonly post: Post,
    private readonly batchSize: number,
    private readonly log: (level: 'info' | 'warn', message: string, details?: Record<string, unknown>) => void,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Something new was buffered: post it now rather than at the next wake-up. */
  nudge(): void {
    this.wake?.();
  }

  /** Stops after the post in flight (what is not posted stays on disk for the next start). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** One post of the oldest batch; 'empty', 'ok', or 'retry' (wait before the next). */
  async sendOnce(): Promise<'empty' | 'ok' | 'retry'> {
    const batch = await this.buffer.peek(this.batchSize);
    if (batch.files.length === 0) return 'empty';
    let answer: PostAnswer;
    try {
      answer = await this.post(batch.readings);
    } catch (error) {
      return this.failed(`platform unreachable: ${(error as Error).message}`);
    }
    if (answer.status >= 200 && answer.status < 300) {
      const s = this.status;
      if (s.platformReachable === false) this.log('info', 'platform reachable again: replaying the buffer', { buffered: this.buffer.stats().readings });
      await this.buffer.remove(batch.files);
      s.platformReachable = true;
      s.postedReadings += batch.readings.length;
      s.posts++;
      s.lastPostAt = new Date().toISOString();
      s.lastError = null;
      s.consecutiveFailures = 0;
      return 'ok';
    }
    const text = `HTTP ${answer.status}: ${answer.body.slice(0, 500)}`;
    if (answer.status >= 500 || answer.status === 429 || answer.status === 408 || answer.status === 401 || answer.status === 403) {
      return this.failed(answer.status === 401 || answer.status === 403 ? `credential refused (${text}); check COLLECTOR_TOKEN or COLLECTOR_CLIENT_ID/COLLECTOR_CLIENT_SECRET` : text);
    }
    this.log('warn', 'platform refused a batch as malformed: set aside in rejected/', { files: batch.files, answer: text });
    await this.buffer.reject(batch.files, text);
    return 'ok';
  }

  private failed(message: string): 'retry' {
    const s = this.status;
    if (s.platformReachable !== false || s.lastError !== message) this.log('warn', 'readings not posted: buffering', { error: message, buffered: this.buffer.stats().readings });
    s.platformReachable = false;
    s.lastError = message;
    s.consecutiveFailures++;
    return 'retry';
  }

  private async run(): Promise<void> {
    while (this.running) {
      const outcome = await this.sendOnce().catch((error: unknown) => this.failed(`buffer: ${(error as Error).message}`));
      if (!this.running) break;
      if (outcome === 'empty') await this.sleep(1_000);
      else if (outcome === 'retry') await this.sleep(backoffDelayMs(this.status.consecutiveFailures, RETRY));
    }
  }
}
