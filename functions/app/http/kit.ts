// Routes as data: method, path, who may call it, zod schemas for params/query/body, and a function from
// the validated request to a result. toMiddyRoute() turns one into a @middy/http-router route. The one
// request-body reader (readBody) lives here too.
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import type { Method, Route } from '@middy/http-router';
import * as z from 'zod';
import { issueLines } from '#domain/issues';
import type { Principal, Role } from '#domain/roles';
import { jsonTextDepth, maxJsonDepth } from '#domain/text';
import { ForbiddenError, PayloadTooLargeError, UnauthorizedError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors';
import { principalFromClaims } from './principal.ts';

export interface HttpResult {
  status: number;
  body?: unknown;
  /** A body sent as it is (CSV...), with its content-type in headers, instead of JSON. */
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface RequestContext<B, Q, P, D> {
  body: B;
  query: Q;
  params: P;
  principal: Principal;
  requestId: string;
  /** Request headers, names lower case. */
  headers: Record<string, string>;
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
  /** One line for the API description (/openapi.json, /docs). */
  summary?: string;
  /** The status of a success (200 unless given). */
  successStatus?: number;
  /** Client errors this route answers beyond those its shape implies (400, 401/403, 404 with path params...). */
  errors?: readonly number[];
  /** The success body's media type, when not application/json. */
  responseType?: string;
  /**
   * A body read as text of this media type (e.g. text/csv) instead of JSON: it must be sent with that
   * content-type (415 otherwise) and is handed to `body` (a string schema) as it is.
   */
  textBody?: { mediaType: string; maxBytes: number };
  handle: (ctx: RequestContext<B, Q, P, D>) => Promise<HttpResult>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a heterogeneous list of routes
export type AnyRouteSpec<D> = RouteSpec<any, any, any, D>;

export const defineRoute = <B = undefined, Q = Record<string, never>, P = Record<string, never>, D = unknown>(
  spec: RouteSpec<B, Q, P, D>,
) => spec;

const MAX_BODY_BYTES = 256 * 1024;
/** A route without a query schema takes no query parameters: one given is a 400, never silently ignored. */
const noQuery = z.strictObject({});
const publicPrincipal: Principal = { subject: 'anonymous', roles: [] };

function parsePart<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return (where === 'body' ? undefined : {}) as T;
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ValidationError(`invalid ${where}`, { errors: issueLines(result.error).map((e) => ({ ...e, path: `${where}.${e.path}` })) });
  }
  return result.data;
}

/**
 * The bytes of a request body as API Gateway hands it over (base64 or text), refused past `maxBytes`.
 * Every HTTP entry reads its body here.
 */
export function readBody(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>, maxBytes = MAX_BODY_BYTES): Buffer {
  const raw = event.body ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
  if (raw.length > maxBytes) throw new PayloadTooLargeError(`body exceeds ${maxBytes} bytes`);
  return raw;
}

const contentTypeOf = (event: ApiEvent) => Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1] ?? '';

/** A route's text body (CSV...): a 415 unless sent as `mediaType`. */
function readTextBody(event: ApiEvent, textBody: { mediaType: string; maxBytes: number }): string {
  const raw = readBody(event, textBody.maxBytes);
  const type = contentTypeOf(event).split(';')[0]?.trim().toLowerCase();
  if (type !== textBody.mediaType) throw new UnsupportedMediaTypeError(`send the body as ${textBody.mediaType}`);
  return raw.toString('utf8');
}

/**
 * A route's JSON body: undefined when there is none; a 415 unless sent as JSON; a 400 if not JSON or
 * nested deeper than maxJsonDepth.
 */
function readJsonBody(event: ApiEvent): unknown {
  const raw = readBody(event);
  if (!raw.length) return undefined;
  const type = contentTypeOf(event);
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    throw new UnsupportedMediaTypeError('send the body as application/json');
  }
  const text = raw.toString('utf8');
  // Bounded before parsing: zod, the driver and PostgreSQL all walk a value recursively.
  if (jsonTextDepth(text, maxJsonDepth) > maxJsonDepth) {
    throw new ValidationError(`body nests deeper than ${maxJsonDepth} levels of objects and arrays`, { maxDepth: maxJsonDepth });
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
      const query: unknown = parsePart(spec.query ?? noQuery, event.queryStringParameters ?? {}, 'query');
      const bodyValue = spec.body ? (spec.textBody ? readTextBody(event, spec.textBody) : readJsonBody(event)) : undefined;
      const body: unknown = spec.body ? parsePart(spec.body, bodyValue ?? {}, 'body') : undefined;
      const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v ?? '']));
      const result = await spec.handle({ body, query, params, principal, requestId: event.requestContext.requestId, headers, deps });
      return {
        statusCode: result.status,
        headers: { 'content-type': 'application/json', ...result.headers },
        body: result.rawBody ?? (result.body === undefined ? '' : JSON.stringify(result.body)),
      };
    },
  };
}

// Common query/param pieces.
/** Path ids: any letter case is accepted, and lowercased as PostgreSQL prints UUIDs. */
export const uuidParam = z.object({ id: z.string().uuid('must be a UUID').transform((id) => id.toLowerCase()) });
