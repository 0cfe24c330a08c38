// What the registry and the quarantine refuse, named for what went wrong. Each extends a shared kind
// (shared/errors.ts), which is how the HTTP edge answers it.
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '#shared/errors';

export class MeterNotFoundError extends NotFoundError {
  override name = 'MeterNotFoundError';
  constructor(readonly meterId: string) {
    super(`meter ${meterId} does not exist`);
  }
}

export class DeviceNotFoundError extends NotFoundError {
  override name = 'DeviceNotFoundError';
  constructor(readonly deviceId: string) {
    super(`device ${deviceId} does not exist`);
  }
}

/** A decommissioned device serves no meter again. */
export class DeviceDecommissionedError extends ValidationError {
  override name = 'DeviceDecommissionedError';
  constructor(readonly deviceId: string) {
    super(`device ${deviceId} is decommissioned`);
  }
}

/** A device's config that its type's schema refuses (issues listed under `body.config...`). */
export class DeviceConfigInvalidError extends ValidationError {
  override name = 'DeviceConfigInvalidError';
}

/** A lifecycle move the device cannot make (decommissioned is final). */
export class LifecycleTransitionError extends ConflictError {
  override name = 'LifecycleTransitionError';
  constructor(
    readonly deviceId: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`device ${deviceId} cannot go from ${from} to ${to}${from === 'decommissioned' ? ': a decommissioned device stays decommissioned (register a new one)' : ''}`, { from, to });
  }
}

export class QuarantineItemNotFoundError extends NotFoundError {
  override name = 'QuarantineItemNotFoundError';
  constructor(readonly itemId: string) {
    super(`quarantine item ${itemId} does not exist`);
  }
}

/** The item was reprocessed or discarded already (perhaps by a concurrent request). */
export class QuarantineItemResolvedError extends ConflictError {
  override name = 'QuarantineItemResolvedError';
  constructor(
    readonly itemId: string,
    readonly itemStatus: string,
  ) {
    super(`quarantine item ${itemId} is already ${itemStatus}`);
  }
}

/** Only the head of the payload was kept (it was over its source's limit): there is nothing to reprocess. */
export class QuarantinePayloadTruncatedError extends ConflictError {
  override name = 'QuarantinePayloadTruncatedError';
  constructor(readonly itemId: string) {
    super(`quarantine item ${itemId} kept only the head of an oversized payload: it cannot be reprocessed, only discarded`);
  }
}

/** Reprocessing met a database that could not take the message now: the item stays new, try again. */
export class ReprocessDeferredError extends UnavailableError {
  override name = 'ReprocessDeferredError';
  constructor(readonly itemId: string) {
    super('the database could not take the message now; try again');
  }
}
