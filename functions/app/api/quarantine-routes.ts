// HTTP routes for the quarantine: list, inspect, reprocess, discard; with their list query and DTO.
import * as z from 'zod';
import type { Quarantined } from '#store/schema';
import { operators, readers } from '#domain/roles';
import { wireDevEuiSchema } from '#domain/topics';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { pagingQuery } from '../http/paging.ts';
import { discardQuarantined, listQuarantine, reprocessQuarantined } from '../registry/quarantine.ts';
import { withPostedReadings } from '../readings/readings.ts';

const quarantineListQuery = pagingQuery.extend({
  status: z.enum(['new', 'reprocessed', 'discarded']).default('new'),
  devEui: wireDevEuiSchema.optional(),
  reasonCode: z.string().regex(/^[a-z_]{1,64}$/, 'a reason code such as unknown_device').optional(),
});

const discardBody = z.strictObject({ reason: z.string().trim().min(1).max(500) });

const quarantineDto = (q: Quarantined) => ({
  id: q.id,
  source: q.source,
  topic: q.topic,
  devEui: q.dev_eui,
  meterNo: q.meter_no,
  reasonCode: q.reason_code,
  reason: q.reason,
  payload: q.payload,
  payloadEncoding: q.payload_encoding,
  payloadBytes: q.payload_bytes,
  payloadSha256: q.payload_sha256,
  payloadTruncated: q.payload_truncated,
  status: q.status,
  attempts: q.attempts,
  receivedAt: q.received_at,
  lastErrorAt: q.last_error_at,
  resolvedAt: q.resolved_at,
});

export const quarantineRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'GET',
    path: '/quarantine',
    access: readers,
    query: quarantineListQuery,
    summary: 'Inbound messages that could not be processed, with their reason',
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listQuarantine(deps.db, query)).map(quarantineDto) } }),
  }),
  defineRoute({
    method: 'POST',
    path: '/quarantine/{id}/reprocess',
    access: operators,
    params: uuidParam,
    summary: 'Run a quarantined message through ingestion again',
    errors: [409],
    handle: async ({ params, deps, principal, requestId }) => {
      const ingest = withPostedReadings(deps.ingest, deps, principal);
      const outcome = await reprocessQuarantined(deps.db, ingest, params.id, { principal, requestId }, deps.now());
      return { status: 200, body: { resolved: outcome.resolved, item: quarantineDto(outcome.item) } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/quarantine/{id}/discard',
    access: operators,
    params: uuidParam,
    body: discardBody,
    summary: 'Close a quarantined message with a reason',
    errors: [409],
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: quarantineDto(await discardQuarantined(deps.db, params.id, body.reason, { principal, requestId }, deps.now())),
    }),
  }),
];
