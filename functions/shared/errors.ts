// The error tree every layer throws. At the HTTP edge each becomes an RFC 9457 problem+json response;
// only errors marked `expose` carry their message to the client (4xx); everything else is a generic 500.

export interface ProblemExtras {
  /** Field-level details for validation problems. */
  errors?: { path: string; message: string }[];
  [key: string]: unknown;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number = 500;
  readonly type: string = 'about:blank';
  readonly title: string = 'Internal Server Error';
  readonly expose: boolean = false;
  constructor(
    message: string,
    readonly extras: ProblemExtras = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class ValidationError extends AppError {
  override name = 'ValidationError';
  override readonly status = 400;
  override readonly type = 'https://quantify.dev/problems/validation';
  override readonly title = 'Invalid request';
  override readonly expose = true;
}

export class UnauthorizedError extends AppError {
  override name = 'UnauthorizedError';
  override readonly status = 401;
  override readonly type = 'https://quantify.dev/problems/unauthorized';
  override readonly title = 'Authentication required';
  override readonly expose = true;
}

export class ForbiddenError extends AppError {
  override name = 'ForbiddenError';
  override readonly status = 403;
  override readonly type = 'https://quantify.dev/problems/forbidden';
  override readonly title = 'Forbidden';
  override readonly expose = true;
}

export class NotFoundError extends AppError {
  override name = 'NotFoundError';
  override readonly status = 404;
  override readonly type = 'https://quantify.dev/problems/not-found';
  override readonly title = 'Not found';
  override readonly expose = true;
}

export class MethodNotAllowedError extends AppError {
  override name = 'MethodNotAllowedError';
  override readonly status = 405;
  override readonly type = 'https://quantify.dev/problems/method-not-allowed';
  override readonly title = 'Method not allowed';
  override readonly expose = true;
}

export class ConflictError extends AppError {
  override name = 'ConflictError';
  override readonly status = 409;
  override readonly type = 'https://quantify.dev/problems/conflict';
  override readonly title = 'Conflict';
  override readonly expose = true;
}

export class UnsupportedMediaTypeError extends AppError {
  override name = 'UnsupportedMediaTypeError';
  override readonly status = 415;
  override readonly type = 'https://quantify.dev/problems/unsupported-media-type';
  override readonly title = 'Unsupported media type';
  override readonly expose = true;
}

export class PayloadTooLargeError extends AppError {
  override name = 'PayloadTooLargeError';
  override readonly status = 413;
  override readonly type = 'https://quantify.dev/problems/payload-too-large';
  override readonly title = 'Payload too large';
  override readonly expose = true;
}

/** A dependency (database, broker, network server) is unreachable: retryable, not the caller's fault. */
export class UnavailableError extends AppError {
  override name = 'UnavailableError';
  override readonly status = 503;
  override readonly type = 'https://quantify.dev/problems/unavailable';
  override readonly title = 'Service unavailable';
  override readonly expose = true;
}
