// What parking refuses, named for what went wrong; each extends a shared kind (shared/errors.ts).
import { ConflictError, NotFoundError, ValidationError } from '#shared/errors';

export class SpaceNotFoundError extends NotFoundError {
  override name = 'SpaceNotFoundError';
  constructor(readonly spaceId: string) {
    super(`parking space ${spaceId} does not exist`);
  }
}

export class SpaceRetiredError extends ConflictError {
  override name = 'SpaceRetiredError';
  constructor(readonly spaceId: string) {
    super(`parking space ${spaceId} is retired`);
  }
}

export class ReservationNotFoundError extends NotFoundError {
  override name = 'ReservationNotFoundError';
  constructor(readonly reservationId: string) {
    super(`reservation ${reservationId} does not exist`);
  }
}

/** Another open reservation of the space shares part of the window. */
export class ReservationOverlapError extends ConflictError {
  override name = 'ReservationOverlapError';
}

export class ReservationClosedError extends ConflictError {
  override name = 'ReservationClosedError';
}

/** A device that cannot be a space's sensor or display (wrong capability, decommissioned, unknown). */
export class SpaceDeviceError extends ValidationError {
  override name = 'SpaceDeviceError';
}
