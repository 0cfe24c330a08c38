// Logging a database outage once, not once per retry or per scheduler tick: the first failure that says
// "unavailable" is an error, the next ones are debug, and the first success afterwards says how long it
// lasted. A failure of another kind is logged every time (it is a bug or a data problem, not weather).
import { isUnavailable } from '#store/errors';
import type { Logger } from '#shared/logger';

export class OutageLog {
  private since: number | undefined;
  private failures = 0;

  constructor(
    private readonly logger: Logger,
    /** What is retrying, e.g. "command dispatch". */
    private readonly what: string,
  ) {}

  /** The database is known to be unreachable right now. */
  get down(): boolean {
    return this.since !== undefined;
  }

  /** Log a failure; true when it was the database being unavailable (retry with back-off then). */
  failed(error: unknown, extra: Record<string, unknown> = {}, message = `${this.what} failed`): boolean {
    if (!isUnavailable(error)) {
      this.logger.error(message, { ...extra, error: error as Error });
      return false;
    }
    this.failures++;
    if (this.since === undefined) {
      this.since = Date.now();
      this.logger.error(`${this.what}: the database is unavailable; retrying with back-off until it answers`, { ...extra, error: error as Error });
    } else {
      this.logger.debug(`${this.what}: the database is still unavailable`, { ...extra, failures: this.failures, error: error as Error });
    }
    return true;
  }

  /** Something succeeded: an outage in progress is over. */
  succeeded(): void {
    if (this.since === undefined) return;
    this.logger.info(`${this.what}: the database is back`, { downForMs: Date.now() - this.since, failures: this.failures });
    this.since = undefined;
    this.failures = 0;
  }
}
