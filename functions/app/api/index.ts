// The HTTP API: one Lambda (or the local HTTP server) in front of every route. Middleware first,
// handler last; errors become problem+json in one place.
import middy from '@middy/core';
import httpRouter from '@middy/http-router';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { ping, type Db } from '#store/db';
import { NotFoundError } from '#shared/errors';
import type { AppDeps } from '../deps.ts';
import { defineRoute, toMiddyRoute, type AnyRouteSpec } from '../http/kit.ts';
import { docsPage, openApiDocument, type ApiInfo } from '../http/openapi.ts';
import { problemJson } from '../http/problem.ts';
import { accountRoutes } from './account-routes.ts';
import { billingRoutes } from './billing-routes.ts';
import { commandRoutes } from './command-routes.ts';
import { controlRoutes } from './control-routes.ts';
import { deviceAccessRoutes } from './device-access-routes.ts';
import { paymentRoutes } from './payment-routes.ts';
import { portalRoutes } from './portal-routes.ts';
import { parkingRoutes } from './parking-routes.ts';
import { quarantineRoutes } from './quarantine-routes.ts';
import { readingRoutes } from './reading-routes.ts';
import { registryRoutes } from './registry-routes.ts';
import { tariffRoutes } from './tariff-routes.ts';

/** GET /health's answer within this long, whatever does not answer (DATABASE_HEALTH_TIMEOUT_MS locally). */
const DEFAULT_HEALTH_TIMEOUT_MS = 3_000;

async function check(fn: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return (await Promise.race([fn(), timeout])) !== false;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const pings = new WeakMap<Db, Promise<void>>();

/**
 * One ping in flight per database: while it does not answer (a silent partition), health checks share it
 * instead of each holding a pooled connection until the statement timeout; the next check after it
 * settles sends a new one, so health comes back as soon as the database does.
 */
function pingOnce(db: Db): Promise<void> {
  let pending = pings.get(db);
  if (!pending) {
    pending = ping(db).finally(() => pings.delete(db));
    pings.set(db, pending);
  }
  return pending;
}

const healthRoute = defineRoute<undefined, Record<string, never>, Record<string, never>, AppDeps>({
  method: 'GET',
  path: '/health',
  access: 'public',
  summary: 'Database and broker reachability (503 when one does not answer)',
  handle: async ({ deps }) => {
    const names = ['database', ...Object.keys(deps.healthChecks)];
    const timeoutMs = deps.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
    const results = await Promise.all([
      check(() => pingOnce(deps.db), timeoutMs),
      ...Object.values(deps.healthChecks).map((fn) => check(fn, timeoutMs)),
    ]);
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i] ? 'ok' : 'unreachable']));
    const healthy = results.every(Boolean);
    return { status: healthy ? 200 : 503, body: { status: healthy ? 'ok' : 'degraded', checks } };
  },
});

const apiInfo: ApiInfo = {
  title: 'Quantify',
  version: '0.1.0',
  description: 'Prepaid utility metering and IoT device control: registry, readings, commands, parking, quarantine.',
};

/**
 * GET /openapi.json and GET /docs, public like /health: the description of `all` (these two included),
 * made once on first request from the route table, so every route module in it is described.
 */
function docRoutes(all: () => readonly AnyRouteSpec<AppDeps>[]): AnyRouteSpec<AppDeps>[] {
  let document: unknown;
  let page: string | undefined;
  return [
    defineRoute<undefined, Record<string, never>, Record<string, never>, AppDeps>({
      method: 'GET',
      path: '/openapi.json',
      access: 'public',
      summary: 'This API described as OpenAPI 3.1 (generated from the route table)',
      handle: async () => ({ status: 200, body: (document ??= openApiDocument(all(), apiInfo)) }),
    }),
    defineRoute<undefined, Record<string, never>, Record<string, never>, AppDeps>({
      method: 'GET',
      path: '/docs',
      access: 'public',
      summary: 'This API as a readable page: every route with its roles, parameters, body and errors',
      responseType: 'text/html',
      handle: async () => ({ status: 200, rawBody: (page ??= docsPage(all(), apiInfo)), headers: { 'content-type': 'text/html; charset=utf-8' } }),
    }),
  ];
}

export function apiRoutes(extra: AnyRouteSpec<AppDeps>[] = []): AnyRouteSpec<AppDeps>[] {
  const routes: AnyRouteSpec<AppDeps>[] = [healthRoute, ...registryRoutes, ...quarantineRoutes, ...commandRoutes, ...parkingRoutes, ...deviceAccessRoutes, ...portalRoutes, ...tariffRoutes, ...accountRoutes, ...paymentRoutes, ...readingRoutes, ...billingRoutes, ...controlRoutes, ...extra];
  routes.push(...docRoutes(() => routes));
  return routes;
}

export function createApiHandler(deps: AppDeps, routes: AnyRouteSpec<AppDeps>[] = apiRoutes()) {
  const router = httpRouter<APIGatewayProxyEventV2, APIGatewayProxyResultV2>({
    routes: routes.map((r) => toMiddyRoute(r, deps)),
    notFoundResponse: ({ method, path }) => {
      throw new NotFoundError(`no route for ${method} ${path}`);
    },
  });
  return middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>().use(problemJson(deps.logger)).handler(router);
}
