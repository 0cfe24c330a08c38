// The local HTTP server: API Gateway's job on one machine. It matches the shared HTTP route table,
// verifies bearer tokens for `jwt` routes (as the JWT authorizer does), turns the request into the
// same payload-2.0 event API Gateway would send, and calls the same handler the Lambda runs.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import type { JWTPayload } from 'jose';
import { problemResponse, toProblem } from '#app/http/problem';
import { PayloadTooLargeError, UnauthorizedError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { httpRouteFor, type HttpTarget } from '#shared/routes';
import type { LocalAuth } from './auth.ts';
import { isPortalRequest, servePortal } from './portal-files.ts';

type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;

const MAX_BODY = 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new PayloadTooLargeError(`request body exceeds ${MAX_BODY} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function toApiEvent(req: http.IncomingMessage, body: Buffer, claims: JWTPayload | undefined, routeKey: string): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  const query: Record<string, string> = {};
  // API Gateway joins repeated query parameters with commas.
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = new Date();
  const event = {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
      ...(claims ? { authorizer: { jwt: { claims, scopes: [] } } } : {}),
    },
    ...(body.length ? { body: body.toString('utf8') } : {}),
    isBase64Encoded: false,
  };
  return event;
}

function send(res: http.ServerResponse, result: APIGatewayProxyResultV2): void {
  if (typeof result === 'string') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(result);
    return;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  const body = result.body ?? '';
  res.writeHead(result.statusCode ?? 200, headers).end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

async function bearerClaims(auth: LocalAuth, header: string | undefined): Promise<JWTPayload> {
  const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!token) throw new UnauthorizedError('a bearer token is required (npm run token -- <role>)');
  try {
    return await auth.verify(token);
  } catch {
    throw new UnauthorizedError('the bearer token is invalid or expired');
  }
}

interface LocalHttpServer {
  url: string;
  /** The node server, for WebSocket upgrades (the portal's live channel). */
  server: http.Server;
  close(graceMs?: number): Promise<void>;
}

export async function startHttpServer(options: {
  host: string;
  port: number;
  auth: LocalAuth;
  handlers: Record<HttpTarget, HttpHandler>;
  logger: Logger;
  /** The operator portal's built files, served at `/` and `/assets/` without a token. */
  portalDir?: string;
  /** GET /metrics (Prometheus text), for a bearer token of any role. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
}): Promise<LocalHttpServer> {
  const { auth, handlers, logger } = options;
  const inFlight = new Set<Promise<void>>();
  const server = http.createServer((req, res) => {
    const work = (async () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      try {
        if (options.portalDir && isPortalRequest(req.method ?? 'GET', path)) {
          await servePortal(req, res, options.portalDir, path);
          return;
        }
        if (options.metrics && req.method === 'GET' && path === '/metrics') {
          await bearerClaims(auth, req.headers.authorization);
          const { contentType, body } = await options.metrics();
          res.writeHead(200, { 'content-type': contentType }).end(body);
          return;
        }
        const route = httpRouteFor(req.method ?? 'GET', path);
        if (!route) {
          send(res, problemResponse({ type: 'about:blank', title: 'Not found', status: 404, detail: `no route for ${req.method} ${path}` }));
          return;
        }
        const claims = route.auth === 'jwt' ? await bearerClaims(auth, req.headers.authorization) : undefined;
        const body = await readBody(req);
        const routeKey = `${route.method} ${route.path}`;
        send(res, await handlers[route.target](toApiEvent(req, body, claims, routeKey)));
      } catch (error) {
        const problem = toProblem(error, path);
        if (problem.status >= 500) logger.error('local http request failed', { path, error: error as Error });
        send(res, problemResponse(problem, problem.status === 401 ? { 'www-authenticate': 'Bearer' } : {}));
      }
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}`,
    server,
    // In-flight requests get a grace period to finish; then their connections are cut, so a request
    // waiting on something that never comes (a database that is down) cannot hold shutdown forever.
    close: async (graceMs = 10_000) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
      const outcome = await Promise.race([Promise.allSettled([...inFlight, closed]).then(() => 'done' as const), deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        logger.warn('HTTP requests still in flight at shutdown were cut off', { requests: inFlight.size });
        server.closeAllConnections();
      }
    },
  };
}
