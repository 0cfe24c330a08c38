// RFC 9457 problem+json at the HTTP edge: AppErrors with `expose` keep their message; anything else is
// logged once with its stack and answered with a generic 500 that carries no internals.
import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { AppError } from '#shared/errors';
import type { Logger } from '#shared/logger';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [key: string]: unknown;
}

export function problemResponse(problem: Problem, headers: Record<string, string> = {}): APIGatewayProxyResultV2 {
  return { statusCode: problem.status, headers: { 'content-type': 'application/problem+json', ...headers }, body: JSON.stringify(problem) };
}

export function toProblem(error: unknown, instance?: string): Problem {
  if (error instanceof AppError && error.expose) {
    return { type: error.type, title: error.title, status: error.status, detail: error.message, ...(instance ? { instance } : {}), ...error.extras };
  }
  // Errors from middy's own utilities (e.g. http-router's 404) carry statusCode and expose.
  if (typeof error === 'object' && error !== null && 'statusCode' in error && (error as { expose?: unknown }).expose === true) {
    const status = Number(error.statusCode);
    const message = (error as { message?: unknown }).message;
    if (status >= 400 && status < 500) {
      return { type: 'about:blank', title: status === 404 ? 'Not found' : 'Bad request', status, detail: typeof message === 'string' ? message : '', ...(instance ? { instance } : {}) };
    }
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
