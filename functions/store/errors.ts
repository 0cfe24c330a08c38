// The one place PostgreSQL errors become domain errors. node-postgres and PGlite carry SQLSTATE in
// `code`; the Data API only returns the server's message text, so both are recognised.
import { AppError, ConflictError, UnavailableError, ValidationError } from '#shared/errors';

interface PgLikeError {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
  constraint?: unknown;
}

const byMessage: [RegExp, string][] = [
  [/duplicate key value violates unique constraint/i, '23505'],
  [/violates foreign key constraint/i, '23503'],
  [/violates check constraint/i, '23514'],
  [/violates not-null constraint/i, '23502'],
  [/invalid input syntax/i, '22P02'],
  [/value too long|out of range/i, '22003'],
];

export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as PgLikeError;
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  const message = typeof e.message === 'string' ? e.message : '';
  // The Data API's DatabaseErrorException ends its message with "SQLState: 23505".
  const fromDataApi = /SQLState: ([0-9A-Z]{5})/.exec(message)?.[1];
  if (fromDataApi) return fromDataApi;
  return byMessage.find(([re]) => re.test(message))?.[1];
}

/** Map a database error to an AppError; `what` names the thing being written, for the message. */
export function mapDbError(error: unknown, what = 'record'): unknown {
  if (error instanceof AppError) return error;
  const state = sqlStateOf(error);
  const e = (typeof error === 'object' && error !== null ? error : {}) as PgLikeError;
  const constraint = typeof e.constraint === 'string' ? e.constraint : undefined;
  const detail = typeof e.detail === 'string' ? e.detail : undefined;
  switch (state) {
    case '23505':
      return new ConflictError(`${what} already exists${detail ? `: ${detail}` : ''}`, { constraint }, { cause: error });
    case '23503':
      return new ValidationError(`${what} refers to something that does not exist${detail ? `: ${detail}` : ''}`, { constraint }, { cause: error });
    case '23514':
    case '23502':
    case '22P02':
    case '22003':
    case '22001':
      return new ValidationError(`${what} is not valid${constraint ? ` (${constraint})` : ''}`, { constraint }, { cause: error });
    case '08006':
    case '08001':
    case '57P01':
      return new UnavailableError('database unavailable', {}, { cause: error });
    default:
      // Any other data exception (class 22: bad date, NUL in text, out of range...) is the caller's value.
      if (state?.startsWith('22')) return new ValidationError(`${what} has a value the database cannot store`, {}, { cause: error });
      return error;
  }
}

/**
 * The database refused the values themselves (SQLSTATE class 22, data exception, or 23, integrity
 * constraint violation): sending the same data again will fail again, unlike a lost connection.
 */
export function isDataError(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}

export function isUniqueViolation(error: unknown): boolean {
  return sqlStateOf(error) === '23505';
}
