// HTTP routes the operator portal needs beyond the resources' own: the estate at a glance (any signed-in
// role; each figure links to a list the other routes serve) and the audit log (admins only).
import * as z from 'zod';
import { listAuditEntries, type AuditEntry } from '#store/audit';
import { dayStart, estateOverview, moneySince } from '#store/overview';
import { readers } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, type AnyRouteSpec } from '../http/kit.ts';
import { listBody, pagingQuery, queryDate, queryTimeZone } from '../http/paging.ts';

/** "Failed" on the overview means failed or expired within this window. */
const FAILED_WINDOW_MS = 24 * 3600_000;
const admins = ['admin'] as const;


/** "Today" on the overview begins at midnight in `tz` (UTC unless given). */
const overviewQuery = z.strictObject({ tz: queryTimeZone.default('UTC') });

const auditQuery = pagingQuery
  .extend({
    actor: z.string().trim().min(1).max(200).optional(),
    action: z.string().trim().min(1).max(100).optional(),
    targetType: z.string().trim().min(1).max(100).optional(),
    targetId: z.string().trim().min(1).max(200).optional(),
    from: queryDate.optional(),
    to: queryDate.optional(),
  })
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'from must be before to', path: ['from'] });

const auditDto = (e: AuditEntry) => ({
  id: e.id,
  at: e.created_at,
  actor: e.actor,
  role: e.role,
  action: e.action,
  targetType: e.target_type,
  targetId: e.target_id,
  details: e.details,
  requestId: e.request_id,
});

export const portalRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'GET',
    path: '/overview',
    access: readers,
    query: overviewQuery,
    handle: async ({ query, deps }) => {
      const now = deps.now();
      const since = new Date(now.getTime() - FAILED_WINDOW_MS);
      const todayFrom = await dayStart(deps.db, now, query.tz);
      const [overview, money] = await Promise.all([estateOverview(deps.db, since), moneySince(deps.db, todayFrom)]);
      return { status: 200, body: { at: now, failedSince: since, ...overview, today: { timezone: query.tz, from: todayFrom, money } } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/audit',
    access: admins,
    query: auditQuery,
    summary: 'The audit log, newest first: who changed what, filtered by actor, action, target and time',
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await listAuditEntries(deps.db, query), query, auditDto) }),
  }),
];
