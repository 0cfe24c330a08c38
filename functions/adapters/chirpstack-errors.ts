// Errors of the ChirpStack REST client. The split callers act on: Unavailable may be retried later
// (network down, timeout, 5xx, rate limit); Rejected will fail the same way again (4xx); InvalidResponse
// means ChirpStack answered 2xx with a body we cannot read (wrong URL or an incompatible version).
// Each is a DeviceQueueError, the error contract of the port the client implements.
import { DeviceQueueError } from '#app/commands/errors';
import type { SendUncertainty } from '#domain/commands';

export abstract class ChirpStackError extends DeviceQueueError {}

export type UnavailableReason = 'timeout' | 'connection' | 'server_error' | 'rate_limited';

/**
 * ChirpStack could not be reached or could not serve the request now. Retryable. Note for enqueue: after
 * a timeout the item may already be queued (the response was lost, not the request), so a caller that
 * must not send twice should list the queue before retrying.
 */
export class ChirpStackUnavailableError extends ChirpStackError {
  override name = 'ChirpStackUnavailableError';
  readonly retryable = true;
  constructor(
    message: string,
    readonly reason: UnavailableReason,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** An HTTP answer means ChirpStack is done with the request; a refused connection never reached it. */
  override get uncertainty(): SendUncertainty {
    if (this.reason === 'server_error' || this.reason === 'rate_limited') return 'answered';
    const cause = this.cause instanceof Error && this.cause.cause instanceof Error ? this.cause.cause : undefined;
    const code = cause && 'code' in cause ? cause.code : undefined;
    return this.reason === 'connection' && (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') ? 'no' : 'in_flight';
  }
}

/** ChirpStack refused the request (bad input, unknown device, bad API key). Not retryable. */
export class ChirpStackRejectedError extends ChirpStackError {
  override name = 'ChirpStackRejectedError';
  readonly retryable = false;
  constructor(
    message: string,
    /** HTTP status (400 for requests refused before sending, as ChirpStack would have). */
    readonly status: number,
    /** gRPC status code from the gateway's error body ({code, message}), when present. */
    readonly grpcCode?: number,
  ) {
    super(message);
  }
}

/** A 2xx response whose body does not match the API. Not retryable: the outcome is unknown. */
export class ChirpStackInvalidResponseError extends ChirpStackError {
  override name = 'ChirpStackInvalidResponseError';
  readonly retryable = false;
  /** ChirpStack said yes in a way we cannot read: the item may well be queued. */
  override get uncertainty(): SendUncertainty {
    return 'answered';
  }
  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
