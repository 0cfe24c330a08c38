// The HTTP API: one Lambda (or the local HTTP server) in front of every route. Middleware first,
// handler last; errors become problem+json in one place.
import middy from '@middy/core';
import httpRouter from '@middy/http-router';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { ping, type Db } from '#store/db';
import { NotFoundError } from '#shared/errors';
import type { AppDeps } from '../deps.ts';
import { defineRoute, toMiddyRoute, type AnyRouteSpec } from '../http/kit.ts';
import { problemJson } from '../http/problem.ts';
import { accountRoutes } from './account-routes.ts';
import { billingRoutes } from './billing-routes.ts';
import { commandRoutes } from './command-routes.ts';
import { deviceAccessRoutes } from './device-access-routes.ts';
import { paymentRoutes } from './payment-routes.ts';
import { portalRoutes } from './portal-routes.ts';
import { quarantineRoutes } from './quarantine-routes.ts';
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

export function apiRoutes(extra: AnyRouteSpec<AppDeps>[] = []): AnyRouteSpec<AppDeps>[] {
  return [healthRoute, ...registryRoutes, ...quarantineRoutes, ...commandRoutes, ...deviceAccessRoutes, ...portalRoutes, ...tariffRoutes, ...accountRoutes, ...paymentRoutes, ...billingRoutes, ...extra];
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
