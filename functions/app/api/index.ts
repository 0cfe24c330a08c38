// The HTTP API: one Lambda (or the local HTTP server) in front of every route. Middleware first,
// handler last; errors become problem+json in one place.
import middy from '@middy/core';
import httpRouter from '@middy/http-router';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { ping } from '#store/db';
import { NotFoundError } from '#shared/errors';
import type { AppDeps } from '../deps.ts';
import { defineRoute, toMiddyRoute, type AnyRouteSpec } from '../http/kit.ts';
import { problemJson } from '../http/problem.ts';
import { commandRoutes } from './command-routes.ts';
import { quarantineRoutes } from './quarantine-routes.ts';
import { registryRoutes } from './registry-routes.ts';

async function check(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    return (await fn()) !== false;
  } catch {
    return false;
  }
}

const healthRoute = defineRoute<undefined, Record<string, never>, Record<string, never>, AppDeps>({
  method: 'GET',
  path: '/health',
  access: 'public',
  handle: async ({ deps }) => {
    const names = ['database', ...Object.keys(deps.healthChecks)];
    const results = await Promise.all([
      check(() => ping(deps.db)),
      ...Object.values(deps.healthChecks).map((fn) => check(fn)),
    ]);
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i] ? 'ok' : 'unreachable']));
    const healthy = results.every(Boolean);
    return { status: healthy ? 200 : 503, body: { status: healthy ? 'ok' : 'degraded', checks } };
  },
});

export function apiRoutes(extra: AnyRouteSpec<AppDeps>[] = []): AnyRouteSpec<AppDeps>[] {
  return [healthRoute, ...registryRoutes, ...quarantineRoutes, ...commandRoutes, ...extra];
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
