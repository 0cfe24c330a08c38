// Routes as data: method, path, who may call it, zod schemas for params/query/body, and a function from
// the validated request to a result. toMiddyRoute() turns one into a @middy/http-router route.
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import type { Method, Route } from '@middy/http-router';
import * as z from 'zod';
import { ForbiddenError, PayloadTooLargeError, UnauthorizedError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors';
import type { Principal, Role } from '#domain/roles';
import { principalFromClaims } from './principal.ts';

export interface HttpResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RequestContext<B, Q, P, D> {
  body: B;
  query: Q;
  params: P;
  principal: Principal;
  requestId: string;
  deps: D;
}

/** An event as API Gateway (HTTP API, payload 2.0) delivers it, with the JWT authorizer's claims. */
export type ApiEvent = APIGatewayProxyEventV2 & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & { authorizer?: { jwt?: { claims?: unknown } } };
};

export interface RouteSpec<B, Q, P, D> {
  method: Exclude<Method, 'ANY'>;
  path: string;
  /** Roles allowed; 'public' needs no token. */
  access: readonly Role[] | 'public';
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  params?: z.ZodType<P>;
  handle: (ctx: RequestContext<B, Q, P, D>) => Promise<HttpResult>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a heterogeneous list of routes
export type AnyRouteSpec<D> = RouteSpec<any, any, any, D>;

export const defineRoute = <B = undefined, Q = Record<string, never>, P = Record<string, never>, D = unknown>(
  spec: RouteSpec<B, Q, P, D>,
) => spec;

const MAX_BODY_BYTES = 256 * 1024;
const publicPrincipal: Principal = { subject: 'anonymous', roles: [] };

export function zodIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
}

function parsePart<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return (where === 'body' ? undefined : {}) as T;
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ValidationError(`invalid ${where}`, { errors: zodIssues(result.error).map((e) => ({ ...e, path: `${where}.${e.path}` })) });
  }
  return result.data;
}

function readBody(event: ApiEvent): unknown {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new PayloadTooLargeError(`body exceeds ${MAX_BODY_BYTES} bytes`);
  const type = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    throw new UnsupportedMediaTypeError('send the body as application/json');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('body is not valid JSON');
  }
}

export function authorize(event: ApiEvent, access: readonly Role[] | 'public'): Principal {
  if (access === 'public') return publicPrincipal;
  const principal = principalFromClaims(event.requestContext.authorizer?.jwt?.claims);
  if (!principal) throw new UnauthorizedError('a valid bearer token is required');
  if (!principal.roles.some((r) => access.includes(r))) {
    throw new ForbiddenError(`this action needs one of the roles: ${access.join(', ')}`);
  }
  return principal;
}

export function toMiddyRoute<D>(spec: AnyRouteSpec<D>, deps: D): Route<APIGatewayProxyEventV2, APIGatewayProxyResultV2> {
  return {
    method: spec.method,
    path: spec.path,
    handler: async (raw: APIGatewayProxyEventV2) => {
      const event = raw as ApiEvent;
      const principal = authorize(event, spec.access);
      const params: unknown = parsePart(spec.params, event.pathParameters ?? {}, 'path');
      const query: unknown = parsePart(spec.query, event.queryStringParameters ?? {}, 'query');
      const bodyValue = spec.body ? readBody(event) : undefined;
      const body: unknown = spec.body ? parsePart(spec.body, bodyValue ?? {}, 'body') : undefined;
      const result = await spec.handle({ body, query, params, principal, requestId: event.requestContext.requestId, deps });
      return {
        statusCode: result.status,
        headers: { 'content-type': 'application/json', ...result.headers },
        body: result.body === undefined ? '' : JSON.stringify(result.body),
      };
    },
  };
}

// Common query/param pieces.
/** Path ids: any letter case is accepted, and lowercased as PostgreSQL prints UUIDs. */
export const uuidParam = z.object({ id: z.string().uuid('must be a UUID').transform((id) => id.toLowerCase()) });
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
