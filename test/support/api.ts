// Build API Gateway payload-2.0 events as the HTTP API (with its JWT authorizer) delivers them.
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Role } from '#domain/roles';
import { lambdaContext as localLambdaContext } from '#runtime/lambda-context';

export interface EventInput {
  method: string;
  path: string;
  role?: Role | 'none';
  body?: unknown;
  rawBody?: string;
  contentType?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

export function apiEvent(input: EventInput): APIGatewayProxyEventV2 {
  const role = input.role ?? 'admin';
  const body = input.rawBody ?? (input.body === undefined ? undefined : JSON.stringify(input.body));
  return {
    version: '2.0',
    routeKey: 'ANY /{proxy+}',
    rawPath: input.path,
    rawQueryString: new URLSearchParams(input.query ?? {}).toString(),
    headers: { 'content-type': input.contentType ?? 'application/json', ...input.headers },
    ...(input.query ? { queryStringParameters: input.query } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method: input.method, path: input.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId: randomUUID(),
      routeKey: 'ANY /{proxy+}',
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
      // HTTP APIs flatten Cognito's groups array to a string like "[operator]".
      ...(role === 'none' ? {} : { authorizer: { jwt: { claims: { sub: `user-${role}`, 'cognito:groups': `[${role}]` }, scopes: [] } } }),
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}

export interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** The raw body (CSV answers). */
  text: string;
}

export function parseResult(result: APIGatewayProxyResultV2): Parsed {
  const r = result as APIGatewayProxyStructuredResultV2;
  const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const json = /json/.test(headers['content-type'] ?? 'json');
  return { status: r.statusCode ?? 200, headers, body: r.body && json ? (JSON.parse(r.body) as Record<string, unknown>) : {}, text: r.body ?? '' };
}

export const lambdaContext = localLambdaContext('test');
