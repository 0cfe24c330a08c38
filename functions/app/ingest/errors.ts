// What ingestion refuses, as errors: only the HTTP integration endpoint throws (a batch never does; what
// it cannot process is quarantined). Each extends a shared kind, which the HTTP edge answers with its status.
import { ForbiddenError, UnauthorizedError, ValidationError } from '#shared/errors';

/** The HTTP integration has no token configured, so it accepts nothing. */
export class IntegrationDisabledError extends ForbiddenError {
  override name = 'IntegrationDisabledError';
}

/** The request carries no integration token, or not the right one. */
export class IntegrationTokenError extends UnauthorizedError {
  override name = 'IntegrationTokenError';
}

/** The request names no ChirpStack event type this endpoint knows. */
export class IntegrationEventTypeError extends ValidationError {
  override name = 'IntegrationEventTypeError';
}
