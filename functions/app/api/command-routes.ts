// HTTP routes for device commands: relay on/off for one meter or many, command history, one command,
// cancellation, and their contracts (bodies, list query, the command as the API shows it). Switching a
// relay takes an operator or admin; reading takes any role.
import * as z from 'zod';
import type { DeviceCommand } from '#store/schema';
import { commandStatuses, commandTypes, describeCommand } from '#domain/commands';
import { operators, readers } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { listBody, pagingQuery, queryDate } from '../http/paging.ts';
import { isExposed, statusOf } from '../http/problem.ts';
import type { Actor } from '../audit.ts';
import {
  bulkRelayRequestSchema,
  auditRelayRejection,
  cancelCommand,
  getCommand,
  listCommands,
  listDeviceCommands,
  listMeterCommands,
  reasonSchema,
  relayRequestSchema,
  requestRelay,
  requestRelayBulk,
} from '../commands/requests.ts';

// ---- Contracts ----

const cancelRequestSchema = z.strictObject({ reason: reasonSchema.optional() });

const commandListQuery = pagingQuery.extend({
  status: z.enum(commandStatuses).optional(),
  type: z.enum(commandTypes).optional(),
  /** Created at or after. */
  from: queryDate.optional(),
  /** Created before. */
  to: queryDate.optional(),
});

/**
 * Across the fleet: `status=pending,queued,sent` (or repeated `status`, which API Gateway joins with
 * commas) is any of them; `since`: only commands whose state changed at or after it (the portal's lists).
 */
const fleetCommandListQuery = pagingQuery.extend({
  status: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((x) => x.trim()) : []))
    .pipe(z.array(z.enum(commandStatuses))),
  type: z.enum(commandTypes).optional(),
  /** Created at or after. */
  from: queryDate.optional(),
  /** Created before. */
  to: queryDate.optional(),
  since: queryDate.optional(),
});

const commandDto = (c: DeviceCommand, now: Date) => ({
  id: c.id,
  type: c.command_type,
  status: c.status,
  statusText: describeCommand(
    { status: c.status, deliveryState: c.delivery_state, commandType: c.command_type, confirmed: c.confirmed, scheduledAt: c.scheduled_at, nextAttemptAt: c.next_attempt_at, errorMessage: c.error_message },
    now,
  ),
  deliveryState: c.delivery_state,
  /** Class A: accepted by the network server, waiting for the device's next uplink. */
  awaitingDevice: c.status === 'sent' && c.delivery_state === 'awaiting_device',
  /** The last attempt's outcome is unknown: the network server may hold the downlink; not failed until its queue shows it does not. */
  deliveryUnknown: c.status === 'sent' && c.delivery_state === 'unknown',
  meterId: c.meter_id,
  deviceId: c.device_id,
  devEui: c.device_eui,
  payloadHex: c.payload_hex,
  fPort: c.f_port,
  confirmed: c.confirmed,
  data: c.command_data,
  priority: c.priority,
  scheduledAt: c.scheduled_at,
  expiresAt: c.expires_at,
  retryCount: c.retry_count,
  maxRetries: c.max_retries,
  nextAttemptAt: c.next_attempt_at,
  error: c.error_message,
  networkQueueItemId: c.network_queue_item_id,
  outcome: c.outcome,
  requestedBy: c.requested_by,
  reason: c.reason,
  createdAt: c.created_at,
  queuedAt: c.queued_at,
  sentAt: c.sent_at,
  transmittedAt: c.transmitted_at,
  confirmedAt: c.confirmed_at,
  failedAt: c.failed_at,
  cancelledAt: c.cancelled_at,
  expiredAt: c.expired_at,
});

// ---- Routes ----

/**
 * Run a relay request; when it is refused with a client error (unknown meter, no relay, a bulk list with
 * meters that cannot switch), audit the refusal with how it was answered, then answer it.
 */
async function auditedRefusal<T>(
  deps: AppDeps,
  actor: Actor,
  request: { action: string; reason: string; meterId?: string; meterIds?: readonly string[] },
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isExposed(error)) {
      const refusal = { status: statusOf(error), error: error.message, ...(error.extras.errors ? { errors: error.extras.errors } : {}) };
      await auditRelayRejection(deps, actor, request, refusal);
    }
    throw error;
  }
}

/** Who may disconnect and reconnect supply. */
const switchers = operators;

export const commandRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/meters/{id}/relay',
    access: switchers,
    params: uuidParam,
    body: relayRequestSchema,
    summary: "Switch a meter's relay on or off (audited, refusals too)",
    successStatus: 202,
    errors: [409],
    handle: async ({ params, body, deps, principal, requestId }) => {
      const actor = { principal, requestId };
      const { command } = await auditedRefusal(deps, actor, { ...body, meterId: params.id }, () => requestRelay(deps, params.id, body, actor));
      return { status: 202, body: commandDto(command, deps.now()), headers: { location: `/commands/${command.id}` } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/commands/bulk',
    access: switchers,
    body: bulkRelayRequestSchema,
    summary: "Switch many meters' relays: all or nothing",
    successStatus: 202,
    errors: [409],
    handle: async ({ body, deps, principal, requestId }) => {
      const actor = { principal, requestId };
      const commands = await auditedRefusal(deps, actor, body, () => requestRelayBulk(deps, body, actor));
      const now = deps.now();
      return { status: 202, body: { items: commands.map((c) => commandDto(c, now)) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/commands',
    access: readers,
    params: uuidParam,
    query: commandListQuery,
    summary: "A meter's commands, newest first, by status, type and creation time",
    handle: async ({ params, query, deps }) => {
      const now = deps.now();
      return { status: 200, body: listBody(await listMeterCommands(deps.db, params.id, query), query, (c) => commandDto(c, now)) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/devices/{id}/commands',
    access: readers,
    params: uuidParam,
    query: commandListQuery,
    summary: "A device's commands (relay, display, balance), newest first",
    handle: async ({ params, query, deps }) => {
      const now = deps.now();
      return { status: 200, body: listBody(await listDeviceCommands(deps.db, params.id, query), query, (c) => commandDto(c, now)) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/commands',
    access: readers,
    query: fleetCommandListQuery,
    summary: 'Commands across the fleet, newest first, by status (one or several), type, creation time [from, to) and last change (since)',
    handle: async ({ query, deps }) => {
      const now = deps.now();
      return { status: 200, body: listBody(await listCommands(deps.db, query), query, (c) => commandDto(c, now)) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/commands/{id}',
    access: readers,
    params: uuidParam,
    summary: 'One command with its lifecycle timestamps',
    handle: async ({ params, deps }) => ({ status: 200, body: commandDto(await getCommand(deps.db, params.id), deps.now()) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/commands/{id}/cancel',
    access: switchers,
    params: uuidParam,
    body: cancelRequestSchema,
    summary: 'Cancel a pending or queued command',
    errors: [409],
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: commandDto(await cancelCommand(deps, params.id, body.reason, { principal, requestId }), deps.now()),
    }),
  }),
];
