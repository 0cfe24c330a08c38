// RFC 9457 problem+json at the HTTP edge, the one place that knows statuses: each error kind of
// shared/errors.ts maps to a status, type and title, and keeps its message; anything else is logged once
// with its stack and answered with a generic 500 that carries no internals.
import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '#shared/errors';
import type { Logger } from '#shared/logger';
import { isUnavailable } from '#store/errors';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [key: string]: unknown;
}

interface ProblemKind {
  status: number;
  type: string;
  title: string;
}

const problems = 'https://quantify.dev/problems';

// Every kind a client may see, with its answer. The kinds are siblings, so the first match is the one;
// an area's error (e.g. MeterNotFoundError) answers as the kind it extends.
const kinds: [new (...args: never[]) => AppError, ProblemKind][] = [
  [ValidationError, { status: 400, type: `${problems}/validation`, title: 'Invalid request' }],
  [UnauthorizedError, { status: 401, type: `${problems}/unauthorized`, title: 'Authentication required' }],
  [ForbiddenError, { status: 403, type: `${problems}/forbidden`, title: 'Forbidden' }],
  [NotFoundError, { status: 404, type: `${problems}/not-found`, title: 'Not found' }],
  [ConflictError, { status: 409, type: `${problems}/conflict`, title: 'Conflict' }],
  [PayloadTooLargeError, { status: 413, type: `${problems}/payload-too-large`, title: 'Payload too large' }],
  [UnsupportedMediaTypeError, { status: 415, type: `${problems}/unsupported-media-type`, title: 'Unsupported media type' }],
  [UnavailableError, { status: 503, type: `${problems}/unavailable`, title: 'Service unavailable' }],
];

function kindOf(error: unknown): ProblemKind | undefined {
  if (!(error instanceof AppError)) return undefined;
  return kinds.find(([kind]) => error instanceof kind)?.[1];
}

/** Is this an error of a known kind, whose message the caller may see? */
export function isExposed(error: unknown): error is AppError {
  return kindOf(error) !== undefined;
}

/** The HTTP status an error is answered with. */
export function statusOf(error: unknown): number {
  return toProblem(error).status;
}

export function problemResponse(problem: Problem, headers: Record<string, string> = {}): APIGatewayProxyResultV2 {
  return { statusCode: problem.status, headers: { 'content-type': 'application/problem+json', ...headers }, body: JSON.stringify(problem) };
}

export function toProblem(error: unknown, instance?: string): Problem {
  const kind = kindOf(error);
  if (kind && error instanceof AppError) {
    return { type: kind.type, title: kind.title, status: kind.status, detail: error.message, ...(instance ? { instance } : {}), ...error.extras };
  }
  // Errors from middy's own utilities (e.g. http-router's 404) carry statusCode and expose.
  if (typeof error === 'object' && error !== null && 'statusCode' in error && (error as { expose?: unknown }).expose === true) {
    const status = Number(error.statusCode);
    const message = (error as { message?: unknown }).message;
    if (status >= 400 && status < 500) {
      return { type: 'about:blank', title: status === 404 ? 'Not found' : 'Bad request', status, detail: typeof message === 'string' ? message : '', ...(instance ? { instance } : {}) };
    }
  }
  // A driver error that says the database is unreachable (a store function without inTransaction met a
  // lost connection) is weather, not a bug: retryable, like UnavailableError.
  if (isUnavailable(error)) {
    const unavailable = kinds.find(([kind]) => kind === UnavailableError)![1];
    return { type: unavailable.type, title: unavailable.title, status: unavailable.status, detail: 'database unavailable', ...(instance ? { instance } : {}) };
  }
  return { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'an unexpected error occurred; it has been logged', ...(instance ? { instance } : {}) };
}

export const problemJson = (logger: Logger): middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyResultV2> => ({
  onError: async (request) => {
    const problem = toProblem(request.error, request.event.requestContext?.http?.path);
    if (problem.status >= 500) {
      logger.error('request failed', { path: request.event.requestContext?.http?.path, error: request.error as Error });
    }
    request.response = problemResponse(problem);
  },
});
