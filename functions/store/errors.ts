// The one place PostgreSQL errors become domain errors. node-postgres and PGlite carry SQLSTATE in
// `code`; the Data API only returns the server's message text, so both are recognised.
import { AppError, ConflictError, NotFoundError, UnavailableError, ValidationError } from '#shared/errors';

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
    // The ledger functions' own states (schema/0010_payments.sql): the message is theirs, and says why.
    case 'QL001':
    case 'QL002':
    case 'QL004':
      return new ConflictError(serverMessage(error), { sqlState: state }, { cause: error });
    case 'QL003':
      return new ValidationError(serverMessage(error), { sqlState: state }, { cause: error });
    case 'P0002':
      return new NotFoundError(serverMessage(error), {}, { cause: error });
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
    default:
      if (isUnavailable(error)) return new UnavailableError('database unavailable', {}, { cause: error });
      // Any other data exception (class 22: bad date, NUL in text, out of range...) is the caller's value.
      if (state?.startsWith('22')) return new ValidationError(`${what} has a value the database cannot store`, {}, { cause: error });
      return error;
  }
}

/** The server's message alone (the Data API wraps it in "ERROR: … ; SQLState: X"). */
function serverMessage(error: unknown): string {
  const message = typeof (error as PgLikeError).message === 'string' ? String((error as PgLikeError).message) : 'database error';
  return /ERROR: (.*?)(\n|; SQLState|$)/s.exec(message)?.[1]?.trim() ?? message;
}

/** SQLSTATE classes and codes that say "the database (or the way to it) is not there now", not "your data". */
const unavailableStates = [
  /^08/, // connection exception
  /^53/, // insufficient resources: too many connections, disk full, out of memory
  /^58/, // system error: I/O error (a disk that failed under PGlite or the server)
  /^57P0[1-5]$/, // admin/crash shutdown, cannot connect now (starting, recovering), database dropped, idle session timeout
  /^57014$/, // query_canceled: the statement timeout (the server or the connection was too slow to answer)
  /^25P03$/, // idle_in_transaction_session_timeout
];

/** What the drivers say without a SQLSTATE when the connection is gone, never came, or stopped answering. */
const unavailableMessages = [
  /Connection terminated/i, // node-postgres: the socket closed (a restart, pg_terminate_backend, a connect timeout)
  /timeout exceeded when trying to connect/i, // pg-pool: no connection within connectionTimeoutMillis
  /Query read timeout/i, // node-postgres: query_timeout (a silent partition)
  /not queryable/i, // node-postgres: a client whose connection already failed
  /terminating connection/i, // the server's FATAL before it closes (57P01's text)
  /the database system is (starting up|shutting down|in recovery mode)/i,
  /Connection refused|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH/,
  /PGlite is closed/i, // the embedded database was closed or failed
  /Communications link failure/i, // Data API: Aurora unreachable
];

/** Socket and DNS errors of the way to the database. */
const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** Data API (and AWS SDK) error names for an Aurora that is resuming, overloaded or unreachable. */
const unavailableNames = new Set(['DatabaseResumingException', 'DatabaseUnavailableException', 'StatementTimeoutException', 'ServiceUnavailableError', 'ServiceUnavailableException', 'ThrottlingException', 'TimeoutError']);

/**
 * The database could not be reached or stopped answering (a restart, a failover, a terminated backend, a
 * partition longer than a timeout, PGlite closed or failing its I/O): retryable, and never the data's
 * fault. Follows `cause` and AggregateError's `errors` (a connect to every address of a host failing).
 */
export function isUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  if (error instanceof UnavailableError) return true;
  if (error instanceof AppError) return false;
  const e = error as PgLikeError & { name?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && unavailableCodes.has(e.code)) return true;
  if (typeof e.name === 'string' && unavailableNames.has(e.name)) return true;
  // A WebAssembly trap inside PGlite (RuntimeError: unreachable, Aborted()): its instance is gone.
  if (e.name === 'RuntimeError' || (typeof e.message === 'string' && /^Aborted\(/.test(e.message))) return true;
  const state = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
  if (state && unavailableStates.some((re) => re.test(state))) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  const fromDataApi = /SQLState: ([0-9A-Z]{5})/.exec(message)?.[1];
  if (fromDataApi && unavailableStates.some((re) => re.test(fromDataApi))) return true;
  if (!state && !fromDataApi && unavailableMessages.some((re) => re.test(message))) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isUnavailable(inner, depth + 1))) return true;
  return isUnavailable(e.cause, depth + 1);
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
