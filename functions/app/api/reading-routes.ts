// HTTP routes for readings as the seed names them (POST /readings, GET /readings, GET /readings/{meter_id})
// and a meter's history (GET /meters/{id}/consumption, GET /meters/{id}/series), JSON or CSV. POST
// /readings is the only route the collector role may call.
import * as z from 'zod';
import { postedReadingsSchema } from '#domain/posted-readings';
import { readers, readingWriters } from '#domain/roles';
import { isMeterNo } from '#domain/topics';
import { seriesFields } from '#store/readings';
import type { AppDeps } from '../deps.ts';
import { csvResult, wantsCsv } from '../http/csv.ts';
import { defineRoute, type AnyRouteSpec } from '../http/kit.ts';
import { listAllReadings, MAX_BUCKETS, meterConsumption, meterSeries, meterReadingsByRef, postReadings, requireMeterRef } from '../readings/readings.ts';
import { queryDate, queryTimeZone } from '../http/paging.ts';
import { readingDto } from './registry-routes.ts';

// Every meter id (a UUID) is also shaped like a meter number, so the meter number's rule admits both.
const meterRef = z.string().refine(isMeterNo, 'a meter id (UUID) or meter number');

const window = {
  from: queryDate.optional(),
  to: queryDate.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(100),
};
const allReadingsQuery = z.object({ meter_id: meterRef.optional(), meterId: meterRef.optional(), ...window });
const meterReadingsQuery = z.object(window);


const historyQuery = z
  .object({
    interval: z.enum(['hour', 'day', 'month']).default('day'),
    from: queryDate.optional(),
    to: queryDate.optional(),
    tz: queryTimeZone.optional(),
  })
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'from must be before to', path: ['from'] })
  .refine((q) => !q.from || !q.to || (q.to.getTime() - q.from.getTime()) / ({ hour: 3_600_000, day: 86_400_000, month: 28 * 86_400_000 }[q.interval]) <= MAX_BUCKETS, {
    message: `at most ${MAX_BUCKETS} intervals per request`,
    path: ['from'],
  });
const seriesQuery = z.object({ field: z.enum(seriesFields).default('power') }).and(historyQuery);

const refParam = z.object({ meter_id: meterRef });
const idParam = z.object({ id: meterRef });

const iso = (d: Date) => d.toISOString();

export const readingRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/readings',
    access: readingWriters,
    body: postedReadingsSchema,
    handle: async ({ body, deps, principal }) => ({ status: 200, body: await postReadings(deps, body, principal) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/readings',
    access: readers,
    query: allReadingsQuery,
    handle: async ({ query, deps }) => {
      const ref = query.meter_id ?? query.meterId;
      const meterId = ref ? (await requireMeterRef(deps.db, ref)).meter_id : undefined;
      const rows = await listAllReadings(deps.db, { meterId, from: query.from, to: query.to, limit: query.limit });
      return { status: 200, body: { items: rows.map((r) => ({ ...readingDto(r), meterNo: r.meter_no })) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/readings/{meter_id}',
    access: readers,
    params: refParam,
    query: meterReadingsQuery,
    handle: async ({ params, query, deps }) => {
      const { rows } = await meterReadingsByRef(deps.db, params.meter_id, { from: query.from, to: query.to, limit: query.limit });
      return { status: 200, body: { items: rows.map((r) => ({ ...readingDto(r), meterNo: r.meter_no })) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/consumption',
    access: readers,
    params: idParam,
    query: historyQuery,
    handle: async ({ params, query, deps, headers }) => {
      const { window: w, buckets } = await meterConsumption(deps.db, params.id, query, deps.now());
      const items = buckets.map((b) => ({ ...b, start: iso(b.start), end: iso(b.end), gap: b.readings === 0 }));
      if (wantsCsv(headers)) {
        return csvResult(['start', 'end', 'consumption', 'readings', 'resets', 'gap', 'firstValue', 'lastValue'], items, `consumption-${w.interval}.csv`);
      }
      return { status: 200, body: { meterId: w.meterId, interval: w.interval, timezone: w.timezone, from: iso(w.from), to: iso(w.to), items } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/series',
    access: readers,
    params: idParam,
    query: seriesQuery,
    handle: async ({ params, query, deps, headers }) => {
      const { window: w, buckets } = await meterSeries(deps.db, params.id, query, query.field, deps.now());
      const items = buckets.map((b) => ({ ...b, start: iso(b.start), end: iso(b.end) }));
      if (wantsCsv(headers)) return csvResult(['start', 'end', 'samples', 'min', 'avg', 'max'], items, `${query.field}-${w.interval}.csv`);
      return { status: 200, body: { meterId: w.meterId, field: query.field, interval: w.interval, timezone: w.timezone, from: iso(w.from), to: iso(w.to), items } };
    },
  }),
];
