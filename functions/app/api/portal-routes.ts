// HTTP routes the operator portal needs beyond the resources' own: the estate at a glance. Any signed-in
// role may read it; each figure links to a list the other routes serve.
import { estateOverview } from '#store/overview';
import { readers } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, type AnyRouteSpec } from '../http/kit.ts';

/** "Failed" on the overview means failed or expired within this window. */
const FAILED_WINDOW_MS = 24 * 3600_000;

export const portalRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'GET',
    path: '/overview',
    access: readers,
    handle: async ({ deps }) => {
      const now = deps.now();
      const since = new Date(now.getTime() - FAILED_WINDOW_MS);
      const overview = await estateOverview(deps.db, since);
      return { status: 200, body: { at: now, failedSince: since, ...overview } };
    },
  }),
];
