// HTTP routes for billing: the runs of the billing job (what each billed, skipped and why), running it
// now (admin), and the ESP32 balance discrepancies (all roles). The job itself is app/billing/job.ts, the same one the scheduler runs.
import * as z from 'zod';
import type { BillingRun } from '#store/billing';
import { listDiscrepancies, listRuns, type Discrepancy } from '#store/billing';
import { readers, type Role } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, type AnyRouteSpec } from '../http/kit.ts';
import { listBody, pagingQuery, queryDate } from '../http/paging.ts';
import { billingJob } from '../billing/job.ts';

const admins: readonly Role[] = ['admin'];

const runDto = (r: BillingRun) => ({ ...r });
const discrepancyDto = (d: Discrepancy) => ({ ...d });

/** GET /balance-discrepancies: `meter` (its id or number) and `since` (detected at or after) narrow the list. */
const discrepancyQuery = pagingQuery.extend({
  meter: z.string().trim().min(1).max(64).optional(),
  since: queryDate.optional(),
});

export const billingRoutes: AnyRouteSpec<AppDeps>[] = [
  // ESP32 balance reports that disagreed with the ledger beyond the tolerance (newest first); the ledger
  // stays the truth and each was answered with the correct balance (resyncCommandId).
  defineRoute({
    method: 'GET',
    path: '/balance-discrepancies',
    access: readers,
    query: discrepancyQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await listDiscrepancies(deps.db, query), query, discrepancyDto) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/billing/runs',
    access: readers,
    query: pagingQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listRuns(deps.db, query)).map(runDto) } }),
  }),
  defineRoute({
    method: 'POST',
    path: '/billing/runs',
    access: admins,
    body: z.strictObject({}).optional(),
    handle: async ({ deps, principal }) => {
      const result = await billingJob(deps, { trigger: 'manual', requestedBy: principal?.subject ?? null });
      return { status: 201, body: runDto(result.run) };
    },
  }),
];
