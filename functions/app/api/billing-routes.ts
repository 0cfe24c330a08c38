// HTTP routes for billing: the runs of the billing job (what each billed, skipped and why) and running it
// now (admin). The job itself is app/billing/job.ts, the same one the scheduler runs.
import * as z from 'zod';
import type { BillingRun } from '#store/billing';
import { listRuns } from '#store/billing';
import { readers, type Role } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, type AnyRouteSpec } from '../http/kit.ts';
import { pagingQuery } from '../http/paging.ts';
import { billingJob } from '../billing/job.ts';

const admins: readonly Role[] = ['admin'];

const runDto = (r: BillingRun) => ({ ...r });

export const billingRoutes: AnyRouteSpec<AppDeps>[] = [
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
