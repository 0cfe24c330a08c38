// What tariff management and the bill preview refuse, named for what went wrong. Each extends a shared
// kind (shared/errors.ts), which is how the HTTP edge answers it.
import { ConflictError, NotFoundError, ValidationError } from '#shared/errors';

export class TariffNotFoundError extends NotFoundError {
  override name = 'TariffNotFoundError';
  constructor(readonly tariffId: string) {
    super(`tariff ${tariffId} does not exist`);
  }
}

export class AccountNotFoundError extends NotFoundError {
  override name = 'AccountNotFoundError';
  constructor(readonly accountId: string) {
    super(`account ${accountId} does not exist`);
  }
}

export class SiteNotFoundError extends NotFoundError {
  override name = 'SiteNotFoundError';
  constructor(readonly siteId: string) {
    super(`site ${siteId} does not exist`);
  }
}

/** A new version must start after the latest one, and not before it is created: history is never rewritten. */
export class TariffVersionOrderError extends ConflictError {
  override name = 'TariffVersionOrderError';
}

/** A tariff for the wrong meter type, currency or site. */
export class TariffMismatchError extends ValidationError {
  override name = 'TariffMismatchError';
}

/** The meter has no tariff: none of its own, its account's or its site's default for its type. */
export class NoTariffError extends ConflictError {
  override name = 'NoTariffError';
  constructor(readonly meterId: string) {
    super(`meter ${meterId} has no tariff: assign one to the meter, its account or its site's default for its meter type`);
  }
}

/** The period or its readings cannot be rated (a total that went down, time before the tariff's first version…). */
export class RatingRefusedError extends ConflictError {
  override name = 'RatingRefusedError';
}

/** A stored version no longer passes the domain's schema (it was written by another release). */
export class StoredTariffInvalidError extends Error {
  override name = 'StoredTariffInvalidError';
}
