// The kinds of failure every layer throws. A kind says what went wrong, not how to answer it: the HTTP
// edge (app/http/problem.ts) maps each kind to a status and a problem+json response, and an error of no
// known kind there is a generic 500. Each area extends these in its own errors.ts.

export interface ErrorExtras {
  /** Field-level details for validation problems. */
  errors?: { path: string; message: string }[];
  [key: string]: unknown;
}

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    message: string,
    readonly extras: ErrorExtras = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The caller's input is not acceptable (shape, value, or a rule it breaks). */
export class ValidationError extends AppError {
  override name = 'ValidationError';
}

/** No valid credentials were given. */
export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError';
}

/** The caller is known but may not do this. */
export class ForbiddenError extends AppError {
  override name = 'ForbiddenError';
}

/** What the caller named does not exist. */
export class NotFoundError extends AppError {
  override name = 'NotFoundError';
}

/** The request clashes with the current state (a duplicate, an item already resolved...). */
export class ConflictError extends AppError {
  override name = 'ConflictError';
}

/** The request body is in a format we do not read. */
export class UnsupportedMediaTypeError extends AppError {
  override name = 'UnsupportedMediaTypeError';
}

/** The request body is larger than we accept. */
export class PayloadTooLargeError extends AppError {
  override name = 'PayloadTooLargeError';
}

/** A dependency (database, broker, network server) is unreachable: retryable, not the caller's fault. */
export class UnavailableError extends AppError {
  override name = 'UnavailableError';
}
