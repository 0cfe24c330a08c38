// HTTP routes for the quarantine: list, inspect, reprocess, discard.
import * as z from 'zod';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { operators, readers } from '#domain/roles';
import { discardQuarantined, listQuarantine, quarantineDto, quarantineListQuery, reprocessQuarantined } from '../quarantine.ts';

export const quarantineRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'GET',
    path: '/quarantine',
    access: readers,
    query: quarantineListQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listQuarantine(deps.db, query)).map(quarantineDto) } }),
  }),
  defineRoute({
    method: 'POST',
    path: '/quarantine/{id}/reprocess',
    access: operators,
    params: uuidParam,
    handle: async ({ params, deps, principal, requestId }) => {
      const outcome = await reprocessQuarantined(deps.db, deps.ingest, params.id, { principal, requestId }, deps.now());
      return { status: 200, body: { resolved: outcome.resolved, item: quarantineDto(outcome.item) } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/quarantine/{id}/discard',
    access: operators,
    params: uuidParam,
    body: z.strictObject({ reason: z.string().trim().min(1).max(500) }),
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: quarantineDto(await discardQuarantined(deps.db, params.id, body.reason, { principal, requestId }, deps.now())),
    }),
  }),
];
