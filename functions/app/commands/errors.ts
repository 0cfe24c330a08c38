// The command system's errors: what a command request or a cancellation can be refused for, each a kind
// from #shared/errors (the HTTP edge answers by kind), and the error contract of the device queue port.
import type { SendUncertainty } from '#domain/commands';
import { ConflictError, NotFoundError, ValidationError } from '#shared/errors';

/** No command has this id. */
export class CommandNotFoundError extends NotFoundError {
  override name = 'CommandNotFoundError';
  constructor(readonly commandId: string) {
    super(`command ${commandId} does not exist`);
  }
}

/** The meter a command is asked for does not exist. */
export class CommandMeterNotFoundError extends NotFoundError {
  override name = 'CommandMeterNotFoundError';
  constructor(readonly meterId: string) {
    super(`meter ${meterId} does not exist`);
  }
}

export class CommandDeviceNotFoundError extends NotFoundError {
  override name = 'CommandDeviceNotFoundError';
  constructor(readonly deviceId: string) {
    super(`device ${deviceId} does not exist`);
  }
}

/** The command has been sent, or finished, or a dispatcher is sending it right now. */
export class CommandNotCancellableError extends ConflictError {
  override name = 'CommandNotCancellableError';
}

/** A meter cannot take a relay command: no device, no relay, no DevEUI, or a relay config that cannot make a frame. */
export class RelayNotPossibleError extends ConflictError {
  override name = 'RelayNotPossibleError';
}

/** A bulk relay request names meters that cannot switch; `extras.errors` lists each, and nothing was queued. */
export class BulkRelayRejectedError extends ValidationError {
  override name = 'BulkRelayRejectedError';
}

/** A balance update for a meter that no ESP32 meter keeping a balance serves. */
export class BalanceNotPossibleError extends ConflictError {
  override name = 'BalanceNotPossibleError';
}

/** A request repeats an idempotency key that was used for a different command. */
export class IdempotencyKeyReusedError extends ConflictError {
  override name = 'IdempotencyKeyReusedError';
  constructor(readonly idempotencyKey: string) {
    super(`idempotency key ${idempotencyKey} was already used for a different command`);
  }
}

/**
 * What the device queue port (DeviceQueueApi) throws: the implementation says whether trying again later
 * can help (the network server was unreachable or busy) or not (it refused the request, or answered with
 * something unreadable). The dispatcher retries or fails a command by this flag alone; any other error
 * (a dropped socket in code the port does not wrap) is taken as worth a retry.
 */
export abstract class DeviceQueueError extends Error {
  override name = 'DeviceQueueError';
  abstract readonly retryable: boolean;
  /**
   * After a failed enqueue, whether the network server may hold the item anyway (see SendUncertainty).
   * By default a retryable error may still be in flight and a refusal queued nothing; implementations
   * that know better (an HTTP answer, a refused connection) say so.
   */
  get uncertainty(): SendUncertainty {
    return this.retryable ? 'in_flight' : 'no';
  }
}
