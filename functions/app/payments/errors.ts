// What the accounts, the ledger and the M-Pesa integration refuse, named for what went wrong. Each extends
// a shared kind (shared/errors.ts), which is how the HTTP edge answers it.
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '#shared/errors';

export class CustomerNotFoundError extends NotFoundError {
  override name = 'CustomerNotFoundError';
  constructor(readonly customerId: string) {
    super(`customer ${customerId} does not exist`);
  }
}

export class AccountNotFoundError extends NotFoundError {
  override name = 'AccountNotFoundError';
  constructor(readonly accountId: string) {
    super(`account ${accountId} does not exist`);
  }
}

export class PaymentNotFoundError extends NotFoundError {
  override name = 'PaymentNotFoundError';
  constructor(readonly paymentId: string) {
    super(`payment ${paymentId} does not exist`);
  }
}

/**
 * A callback to a path whose token is wrong (or from an address not allowed): answered as "no such
 * route", so a prober learns nothing, and nothing is stored beyond a log line.
 */
export class CallbackTokenError extends NotFoundError {
  override name = 'CallbackTokenError';
}

/** The account cannot take this (closed, another currency...). */
export class AccountStateError extends ConflictError {
  override name = 'AccountStateError';
}

/** An amount M-Pesa cannot take (STK Push takes whole shillings). */
export class AmountError extends ValidationError {
  override name = 'AmountError';
}

/** Daraja (or the simulator) could not be reached or refused for a reason of its own: try again later. */
export class DarajaUnavailableError extends UnavailableError {
  override name = 'DarajaUnavailableError';
}

/** Daraja refused the request itself (bad credentials, a bad field): retrying the same will fail again. */
export class DarajaRequestError extends ValidationError {
  override name = 'DarajaRequestError';
}
