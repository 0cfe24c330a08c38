// HTTP routes for tariffs: create one with its first version, add versions, list and read them with their
// versions, assign them (to a meter, an account or a site's default per meter type; audited), resolve a
// meter's tariff, and preview what a meter's tariff makes of a period (posting nothing).
import * as z from 'zod';
import type { Tariff, TariffVersionRow } from '#store/schema';
import type { TariffAssignment } from '#store/tariffs';
import { operators, readers } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { pagingQuery } from '../http/paging.ts';
import { previewBill, type BillPreview } from '../tariffs/preview.ts';
import {
  accountTariffs,
  addTariffVersion,
  assignAccountTariff,
  assignMeterTariff,
  assignSiteTariff,
  createTariff,
  effectiveTariff,
  getTariff,
  listTariffs,
  meterTypeSchema,
  siteTariffs,
  tariffInput,
  tariffVersionInput,
  type TariffWithVersions,
} from '../tariffs/tariffs.ts';

const tariffListQuery = pagingQuery.extend({
  siteId: z.string().uuid().optional(),
  meterType: meterTypeSchema.optional(),
});

const assignmentBody = z.strictObject({ tariffId: z.string().uuid().transform((id) => id.toLowerCase()).nullable() });
const typedParam = uuidParam.extend({ meterType: meterTypeSchema });

const queryDate = z.coerce
  .date()
  .refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'must be a date between 1970 and 9999');
const MAX_PREVIEW_DAYS = 92;
const previewQuery = z
  .object({ from: queryDate, to: queryDate })
  .refine((q) => q.to.getTime() > q.from.getTime(), { message: 'to must be after from', path: ['to'] })
  .refine((q) => q.to.getTime() - q.from.getTime() <= MAX_PREVIEW_DAYS * 86_400_000, { message: `a preview covers at most ${MAX_PREVIEW_DAYS} days`, path: ['to'] });

const effectiveAtQuery = z.object({ at: queryDate.optional() });

// ---- Responses ----

const versionDto = (v: TariffVersionRow) => ({
  version: v.version,
  effectiveFrom: v.effective_from,
  components: v.components,
  note: v.note,
  createdBy: v.created_by,
  createdAt: v.created_at,
});

const tariffDto = ({ tariff, versions }: { tariff: Tariff; versions: TariffVersionRow[] }) => ({
  id: tariff.id,
  name: tariff.name,
  meterType: tariff.meter_type,
  currency: tariff.currency,
  siteId: tariff.site_id,
  description: tariff.description,
  createdBy: tariff.created_by,
  createdAt: tariff.created_at,
  versions: versions.map(versionDto),
});

/** The version in effect at `at` (the latest that has started), if any. */
const inEffect = (t: TariffWithVersions, at: Date) => t.versions.filter((v) => v.effective_from.getTime() <= at.getTime()).pop() ?? null;

const assignmentsDto = (items: TariffAssignment[]) => ({ items });

const previewDto = (p: BillPreview) => ({ ...p, posted: false });

export const tariffRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/tariffs',
    access: operators,
    body: tariffInput,
    handle: async ({ body, deps, principal, requestId }) => {
      const created = await createTariff(deps.db, body, { principal, requestId });
      return { status: 201, body: tariffDto(created), headers: { location: `/tariffs/${created.tariff.id}` } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tariffs',
    access: readers,
    query: tariffListQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listTariffs(deps.db, query)).map(tariffDto) } }),
  }),
  defineRoute({
    method: 'GET',
    path: '/tariffs/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => ({ status: 200, body: tariffDto(await getTariff(deps.db, params.id)) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/tariffs/{id}/versions',
    access: operators,
    params: uuidParam,
    body: tariffVersionInput,
    handle: async ({ params, body, deps, principal, requestId }) => {
      const version = await addTariffVersion(deps.db, params.id, body, { principal, requestId }, deps.now());
      return { status: 201, body: versionDto(version) };
    },
  }),
  defineRoute({
    method: 'PUT',
    path: '/meters/{id}/tariff',
    access: operators,
    params: uuidParam,
    body: assignmentBody,
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: await assignMeterTariff(deps.db, params.id, body.tariffId, { principal, requestId }),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/tariff',
    access: readers,
    params: uuidParam,
    query: effectiveAtQuery,
    handle: async ({ params, query, deps }) => {
      const { meter, tariff } = await effectiveTariff(deps.db, params.id);
      const at = query.at ?? deps.now();
      return {
        status: 200,
        body: {
          meterId: meter.meterId,
          source: meter.source,
          timezone: meter.timezone,
          tariff: tariff ? tariffDto(tariff) : null,
          at,
          versionInEffect: tariff ? (inEffect(tariff, at)?.version ?? null) : null,
        },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/bill-preview',
    access: readers,
    params: uuidParam,
    query: previewQuery,
    handle: async ({ params, query, deps }) => ({ status: 200, body: previewDto(await previewBill(deps.db, params.id, query.from, query.to)) }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/accounts/{id}/tariffs/{meterType}',
    access: operators,
    params: typedParam,
    body: assignmentBody,
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: assignmentsDto(await assignAccountTariff(deps.db, params.id, params.meterType, body.tariffId, { principal, requestId })),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/accounts/{id}/tariffs',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => ({ status: 200, body: assignmentsDto(await accountTariffs(deps.db, params.id)) }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/sites/{id}/tariffs/{meterType}',
    access: operators,
    params: typedParam,
    body: assignmentBody,
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: assignmentsDto(await assignSiteTariff(deps.db, params.id, params.meterType, body.tariffId, { principal, requestId })),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/sites/{id}/tariffs',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => ({ status: 200, body: assignmentsDto(await siteTariffs(deps.db, params.id)) }),
  }),
];
