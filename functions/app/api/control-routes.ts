// HTTP routes for the balance-control policy: a site's defaults and an account's overrides (read by every
// role, written by admins and operators), an account's effective policy with where each value came from
// and its scheduled disconnects, exempting an account from disconnection (audited), and its arrears with
// the debt recovered from payments (set by admins, with a reason).
import * as z from 'zod';
import { operators, readers } from '#domain/roles';
import { policyKeys, policySettingsSchema, type ControlPolicy, type EffectivePolicy } from '#domain/control-policy';
import type { ScheduledDisconnect } from '#store/control-policy';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { accountPolicy, arrearsInput, arrearsOf, exemptionInput, setAccountPolicy, setArrears, setExemption, setSitePolicy, sitePolicy, type AccountPolicy } from '../billing/policy.ts';

const admins = ['admin'] as const;
const arrearsQuery = z.object({ limit: z.coerce.number().int().min(1).max(1_000).default(100) });

/** Each setting with its value and where it came from (default, site or account). */
const effectiveDto = (e: EffectivePolicy) =>
  Object.fromEntries(policyKeys.map((k) => [k, { value: e.policy[k], source: e.sources[k] }])) as Record<keyof ControlPolicy, { value: unknown; source: string }>;

const scheduledDto = (d: ScheduledDisconnect) => ({
  id: d.id,
  meterId: d.meterId,
  dueAt: d.dueAt,
  status: d.status,
  reason: d.reason,
  commandId: d.commandId,
  closedReason: d.closedReason,
  createdAt: d.createdAt,
  closedAt: d.closedAt,
});

const accountPolicyDto = (p: AccountPolicy & { scheduledDisconnects: ScheduledDisconnect[] }) => ({
  accountId: p.input.accountId,
  accountNo: p.input.accountNo,
  siteId: p.input.siteId,
  timezone: p.input.timezone,
  overrides: p.overrides,
  effective: effectiveDto(p),
  exemption: p.input.exemptReason ? { reason: p.input.exemptReason, by: p.input.exemptBy, at: p.input.exemptAt } : null,
  alert: { state: p.input.alertState, warningsSent: p.input.alertRung },
  arrearsMinor: p.input.arrearsMinor,
  scheduledDisconnects: p.scheduledDisconnects.map(scheduledDto),
});

const sitePolicyDto = (p: Awaited<ReturnType<typeof sitePolicy>>) => ({ siteId: p.siteId, timezone: p.timezone, settings: p.settings, updatedBy: p.updatedBy, updatedAt: p.updatedAt, effective: effectiveDto(p) });

export const controlRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'GET',
    path: '/sites/{id}/control-policy',
    access: readers,
    params: uuidParam,
    summary: "A site's balance-control defaults, and the policy they make with the built-in defaults",
    handle: async ({ params, deps }) => {
      const p = await sitePolicy(deps.db, params.id);
      return { status: 200, body: sitePolicyDto(p) };
    },
  }),
  defineRoute({
    method: 'PUT',
    path: '/sites/{id}/control-policy',
    access: operators,
    params: uuidParam,
    body: policySettingsSchema,
    summary: "Replace a site's balance-control defaults (a setting left out is the built-in default); audited",
    handle: async ({ params, body, deps, principal, requestId }) => {
      const p = await setSitePolicy(deps.db, params.id, body, { principal, requestId });
      return { status: 200, body: sitePolicyDto(p) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/accounts/{id}/control-policy',
    access: readers,
    params: uuidParam,
    summary: "An account's effective balance-control policy (each value with its source), exemption, warnings, arrears and scheduled disconnects",
    handle: async ({ params, deps }) => ({ status: 200, body: accountPolicyDto(await accountPolicy(deps, params.id)) }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/accounts/{id}/control-policy',
    access: operators,
    params: uuidParam,
    body: policySettingsSchema,
    summary: "Replace an account's overrides of its site's balance-control policy (a setting left out follows the site); audited",
    handle: async ({ params, body, deps, principal, requestId }) => ({ status: 200, body: accountPolicyDto(await setAccountPolicy(deps, params.id, body, { principal, requestId })) }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/accounts/{id}/exemption',
    access: operators,
    params: uuidParam,
    body: exemptionInput,
    summary: 'Exempt an account from disconnection (medical, institutional), or lift the exemption; the reason is audited',
    handle: async ({ params, body, deps, principal, requestId }) => ({ status: 200, body: accountPolicyDto(await setExemption(deps, params.id, body, { principal, requestId })) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/accounts/{id}/arrears',
    access: readers,
    params: uuidParam,
    query: arrearsQuery,
    summary: "An account's arrears and their history (set by admins, recovered from payments)",
    handle: async ({ params, query, deps }) => ({ status: 200, body: await arrearsOf(deps.db, params.id, query.limit) }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/accounts/{id}/arrears',
    access: admins,
    params: uuidParam,
    body: arrearsInput,
    summary: "Set an account's arrears (debt recovered from each payment by the debt-recovery percentage); audited",
    handle: async ({ params, body, deps, principal, requestId }) => {
      await setArrears(deps.db, params.id, body, { principal, requestId });
      return { status: 200, body: await arrearsOf(deps.db, params.id, 100) };
    },
  }),
];
