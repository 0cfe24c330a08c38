// HTTP routes for parking: spaces (with live state, sensor/display history), reservations, override and
// maintenance, a space's occupancy events and display actuations, and occupancy per zone now or over
// time; with their list queries and DTOs. Changing takes an operator or admin; reading any role.
import * as z from 'zod';
import type { Actuation, OccupancyEvent, ParkingReservation, ParkingSpace } from '#store/schema';
import type { SpaceDeviceHistory, ZoneOccupancy, ZoneOccupancyAt } from '#store/parking';
import { spaceStates } from '#domain/parking';
import { operators, readers, type Principal } from '#domain/roles';
import type { Actor } from '../audit.ts';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { listBody, pagingQuery, queryBoolean, queryDate } from '../http/paging.ts';
import {
  cancelInput,
  cancelReservation,
  createSpace,
  getSpace,
  listActuations,
  listOccupancy,
  listReservations,
  listSpaces,
  occupancyNow,
  occupancyOverTime,
  overrideInput,
  overrideSpace,
  releaseInput,
  releaseSpace,
  reservationInput,
  reserveSpace,
  retireSpace,
  spaceInput,
  spacePatch,
  updateSpace,
} from '../parking/parking.ts';

// ---- Queries ----

const spaceListQuery = pagingQuery.extend({
  siteId: z.uuid().optional(),
  zone: z.string().min(1).max(100).optional(),
  state: z.enum(spaceStates).optional(),
  includeRetired: queryBoolean.optional(),
});

const windowQuery = pagingQuery.extend({ from: queryDate.optional(), to: queryDate.optional() });
const actuationQuery = windowQuery.extend({ trigger: z.enum(['sensor_uplink', 'api_reservation', 'manual_override', 'system_cleanup', 'reservation_expired']).optional() });
const reservationListQuery = pagingQuery.extend({ status: z.enum(['scheduled', 'active', 'ended', 'cancelled']).optional() });

/** `interval` as 15m, 1h, 1d...; with it, occupancy over [from, to) per interval (at most 1000 of them). */
const intervalSchema = z
  .string()
  .regex(/^\d{1,4}[mhd]$/, 'an interval such as 15m, 1h or 1d')
  .transform((v) => Number(v.slice(0, -1)) * { m: 60, h: 3_600, d: 86_400 }[v.slice(-1) as 'm' | 'h' | 'd'])
  .refine((s) => s >= 60, 'at least 1m');

const occupancyQuery = z
  .strictObject({
    siteId: z.uuid().optional(),
    zone: z.string().min(1).max(100).optional(),
    interval: intervalSchema.optional(),
    from: queryDate.optional(),
    to: queryDate.optional(),
  })
  .refine((q) => !q.interval || (q.from && q.to && q.to > q.from), { path: ['interval'], message: 'over time needs from and to (to after from)' })
  .refine((q) => !q.interval || !q.from || !q.to || (q.to.getTime() - q.from.getTime()) / 1000 / q.interval <= 1000, { path: ['interval'], message: 'at most 1000 intervals' });

// ---- Responses ----

const reservationDto = (r: ParkingReservation) => ({
  id: r.id,
  spaceId: r.space_id,
  from: r.starts_at,
  to: r.ends_at,
  reference: r.reference,
  status: r.status,
  createdBy: r.created_by,
  createdAt: r.created_at,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  cancelledAt: r.cancelled_at,
  cancelReason: r.cancel_reason,
});

const spaceDto = (s: ParkingSpace, reservation?: ParkingReservation | null, history?: SpaceDeviceHistory[]) => ({
  id: s.id,
  code: s.code,
  name: s.name,
  siteId: s.site_id,
  zone: s.zone,
  sensorDeviceId: s.sensor_device_id,
  sensorDevEui: s.sensor_dev_eui,
  displayDeviceId: s.display_device_id,
  displayDevEui: s.display_dev_eui,
  state: s.current_state,
  sensorState: s.sensor_state,
  displayState: s.display_state,
  stateChangedAt: s.state_changed_at,
  overrideReason: s.override_reason,
  overrideBy: s.override_by,
  retiredAt: s.retired_at,
  createdAt: s.created_at,
  updatedAt: s.updated_at,
  ...(reservation !== undefined ? { reservation: reservation ? reservationDto(reservation) : null } : {}),
  ...(history ? { deviceHistory: history.map((h) => ({ deviceId: h.device_id, role: h.role, devEui: h.dev_eui, from: h.valid_from, to: h.valid_to })) } : {}),
});

const occupancyEventDto = (e: OccupancyEvent) => ({ id: e.id, deviceId: e.device_id, occupied: e.occupied, previousState: e.previous_state, newState: e.new_state, time: e.event_time, createdAt: e.created_at });

const actuationDto = (a: Actuation) => ({
  id: a.id,
  commandId: a.command_id,
  trigger: a.trigger_type,
  triggerSource: a.trigger_source,
  previousState: a.previous_state,
  newState: a.new_state,
  displayDevEui: a.display_deveui,
  displayCode: a.display_code,
  fPort: a.fport,
  confirmed: a.confirmed,
  downlinkSent: a.downlink_sent,
  downlinkConfirmed: a.downlink_confirmed,
  downlinkError: a.downlink_error,
  responseTimeMs: a.response_time_ms,
  retryCount: a.retry_count,
  createdAt: a.created_at,
  sentAt: a.sent_at,
  confirmedAt: a.confirmed_at,
});

const zoneDto = (z: ZoneOccupancy) => ({ siteId: z.site_id, zone: z.zone, spaces: z.spaces, free: z.free, occupied: z.occupied, reserved: z.reserved, maintenance: z.maintenance, occupancy: z.spaces ? (z.occupied + z.reserved) / z.spaces : 0 });
const zoneAtDto = (z: ZoneOccupancyAt) => ({ at: z.bucket, siteId: z.site_id, zone: z.zone, spaces: z.spaces, occupied: z.occupied, occupancy: z.spaces ? z.occupied / z.spaces : 0 });

// ---- Routes ----

const actorOf = (ctx: { principal: Principal; requestId: string }): Actor => ({ principal: ctx.principal, requestId: ctx.requestId });

export const parkingRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/parking/spaces',
    access: operators,
    body: spaceInput,
    summary: 'Create a parking space, optionally with its occupancy sensor and display',
    successStatus: 201,
    errors: [409],
    handle: async (ctx) => {
      const space = await createSpace(ctx.deps, ctx.body, actorOf(ctx));
      return { status: 201, body: spaceDto(space, null), headers: { location: `/parking/spaces/${space.id}` } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/parking/spaces',
    access: readers,
    query: spaceListQuery,
    summary: 'List spaces by code with their live state (state, sensor, display, open reservation)',
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await listSpaces(deps.db, query), query, (s) => spaceDto(s.space, s.reservation)) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/parking/spaces/{id}',
    access: readers,
    params: uuidParam,
    summary: 'One space with its live state, open reservation and sensor/display history',
    handle: async ({ params, deps }) => {
      const { space, reservation, history } = await getSpace(deps.db, params.id);
      return { status: 200, body: spaceDto(space, reservation, history) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: '/parking/spaces/{id}',
    access: operators,
    params: uuidParam,
    body: spacePatch,
    summary: 'Change a space: name, site, zone, or swap its sensor or display (history kept)',
    errors: [409],
    handle: async (ctx) => ({ status: 200, body: spaceDto(await updateSpace(ctx.deps, ctx.params.id, ctx.body, actorOf(ctx))) }),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/parking/spaces/{id}',
    access: operators,
    params: uuidParam,
    summary: 'Retire a space (kept with its history; devices freed, open reservations cancelled)',
    errors: [409],
    handle: async (ctx) => ({ status: 200, body: spaceDto(await retireSpace(ctx.deps, ctx.params.id, actorOf(ctx))) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/parking/spaces/{id}/override',
    access: operators,
    params: uuidParam,
    body: overrideInput,
    summary: 'Set the space state by hand (MAINTENANCE included) with a reason: a manual_override actuation',
    errors: [409],
    handle: async (ctx) => ({ status: 200, body: spaceDto(await overrideSpace(ctx.deps, ctx.params.id, ctx.body, actorOf(ctx))) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/parking/spaces/{id}/release',
    access: operators,
    params: uuidParam,
    body: releaseInput,
    summary: 'End an override or maintenance: back to the reservation or the sensed state (system_cleanup)',
    errors: [409],
    handle: async (ctx) => ({ status: 200, body: spaceDto(await releaseSpace(ctx.deps, ctx.params.id, ctx.body.reason, actorOf(ctx))) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/parking/spaces/{id}/reservations',
    access: operators,
    params: uuidParam,
    body: reservationInput,
    summary: 'Reserve a space for [from, to): RESERVED for its window, display actuated; overlaps refused (409)',
    successStatus: 201,
    errors: [409],
    handle: async (ctx) => {
      const r = await reserveSpace(ctx.deps, ctx.params.id, ctx.body, actorOf(ctx));
      return { status: 201, body: reservationDto(r) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/parking/spaces/{id}/reservations',
    access: readers,
    params: uuidParam,
    query: reservationListQuery,
    summary: "A space's reservations, latest window first",
    handle: async ({ params, query, deps }) => ({ status: 200, body: listBody(await listReservations(deps.db, params.id, query), query, reservationDto) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/parking/reservations/{id}/cancel',
    access: operators,
    params: uuidParam,
    body: cancelInput,
    summary: 'Cancel a reservation: a reserved space returns to its sensed state (api_reservation)',
    errors: [409],
    handle: async (ctx) => ({ status: 200, body: reservationDto(await cancelReservation(ctx.deps, ctx.params.id, ctx.body.reason, actorOf(ctx))) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/parking/spaces/{id}/occupancy',
    access: readers,
    params: uuidParam,
    query: windowQuery,
    summary: "A space's occupancy events from its sensor, newest first",
    handle: async ({ params, query, deps }) => ({ status: 200, body: listBody(await listOccupancy(deps.db, params.id, query), query, occupancyEventDto) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/parking/spaces/{id}/actuations',
    access: readers,
    params: uuidParam,
    query: actuationQuery,
    summary: "A space's display actuations: trigger, states, code, sent/confirmed, response time, errors",
    handle: async ({ params, query, deps }) => ({ status: 200, body: listBody(await listActuations(deps.db, params.id, query), query, actuationDto) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/parking/occupancy',
    access: readers,
    query: occupancyQuery,
    summary: 'Occupancy per site and zone now, or with interval, from and to: occupied spaces at the end of each interval',
    handle: async ({ query, deps }) => {
      if (query.interval && query.from && query.to) {
        const rows = await occupancyOverTime(deps.db, { siteId: query.siteId, zone: query.zone, from: query.from, to: query.to, intervalS: query.interval });
        return { status: 200, body: { intervalS: query.interval, items: rows.map(zoneAtDto) } };
      }
      return { status: 200, body: { at: deps.now(), items: (await occupancyNow(deps.db, query)).map(zoneDto) } };
    },
  }),
];
