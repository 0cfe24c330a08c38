// HTTP routes for the registry: sites, meters (with their readings) and devices, and their contracts:
// the list queries and the DTOs (the request bodies are the use cases' inputs, in app/registry/registry.ts).
import * as z from 'zod';
import type { Device, Meter, MeterReading, Site } from '#store/schema';
import type { DeviceEvent } from '#store/registry';
import { lifecycles } from '#domain/device-config';
import { deviceTypes } from '#domain/device-profiles';
import { operators, readers } from '#domain/roles';
import { devEuiSchema, meterNoSchema } from '#domain/topics';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { listBody, pagingQuery, queryBoolean, queryDate } from '../http/paging.ts';
import {
  attachDevice,
  createDevice,
  createMeter,
  createSite,
  deviceInput,
  devicePatch,
  getDevice,
  getMeter,
  listDeviceEvents,
  listDevices,
  listMeters,
  listReadings,
  listSites,
  meterInput,
  meterPatch,
  siteInput,
  updateDevice,
  updateMeter,
} from '../registry/registry.ts';
import { importDevices, MAX_IMPORT_BYTES } from '../registry/import.ts';

// ---- Queries ----

const meterListQuery = pagingQuery.extend({
  siteId: z.uuid().optional(),
  accountId: z.uuid().optional(),
  meterType: z.enum(['electricity', 'water']).optional(),
  meterNo: meterNoSchema.optional(),
  serialNumber: z.string().min(1).max(100).optional(),
  communicationStatus: z.enum(['online', 'offline', 'unknown']).optional(),
  relayState: z.enum(['on', 'off', 'unknown']).optional(),
  /** Part of the meter number, serial number or DevEUI (the portal's search box). */
  q: z.string().trim().min(1).max(64).optional(),
  isActive: queryBoolean.optional(),
  isPrepaid: queryBoolean.optional(),
});

const deviceListQuery = pagingQuery.extend({
  kind: z.enum(['lorawan', 'esp32', 'modbus_tcp']).optional(),
  deviceType: z.enum(deviceTypes).optional(),
  siteId: z.uuid().optional(),
  devEui: devEuiSchema.optional(),
  meterNo: meterNoSchema.optional(),
  lifecycle: z.enum(lifecycles).optional(),
});

/** Event types as ingestion stores them: ChirpStack's (up, status, join, log, ack, txack...) and the ESP32's. */
const eventType = z.string().regex(/^[a-z0-9_]{1,32}$/, 'an event type such as status, join, log, ack or txack');

const deviceEventsQuery = pagingQuery.extend({
  /** One type or several, comma-separated: `type=join,status`. */
  type: z
    .string()
    .transform((v) => v.split(',').map((t) => t.trim()))
    .pipe(z.array(eventType).min(1).max(20))
    .optional(),
  level: z.string().min(1).max(32).optional(),
  from: queryDate.optional(),
  to: queryDate.optional(),
});

/** A meter named by its id or its meter number (GET /meters/MTR-001). */
const meterRefParam = z.strictObject({ id: meterNoSchema });

/** Readings page by time, not offset: `from`/`to` bound the window, newest first, up to 5000 at once. */
const readingsQuery = z.strictObject({
  from: queryDate.optional(),
  to: queryDate.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(100),
});

const attachDeviceBody = z.strictObject({ deviceId: z.string().uuid() });

// ---- Responses ----

const eventDto = (e: DeviceEvent) => ({
  id: e.id,
  deviceId: e.device_id,
  devEui: e.dev_eui,
  type: e.event_type,
  time: e.event_time,
  level: e.level,
  code: e.code,
  description: e.description,
  details: e.details,
  receivedAt: e.received_at,
});

const siteDto = (s: Site) => ({
  id: s.id,
  code: s.code,
  name: s.name,
  timezone: s.timezone,
  address: s.address,
  createdAt: s.created_at,
});

const deviceDto = (d: Device) => ({
  id: d.id,
  kind: d.kind,
  deviceType: d.device_type,
  devEui: d.dev_eui,
  meterNo: d.meter_no,
  decoder: d.decoder,
  model: d.model,
  manufacturer: d.manufacturer,
  capabilities: d.capabilities,
  config: d.config,
  lifecycle: d.lifecycle,
  siteId: d.site_id,
  expectedUplinkIntervalS: d.expected_uplink_interval_s,
  lastSeenAt: d.last_seen_at,
  batteryLevel: d.battery_level,
  joinedAt: d.joined_at,
  createdAt: d.created_at,
  updatedAt: d.updated_at,
});

const meterDto = (m: Meter, device?: Device | null) => ({
  id: m.id,
  meterNo: m.meter_no,
  meterType: m.meter_type,
  unit: m.unit,
  serialNumber: m.serial_number,
  manufacturer: m.manufacturer,
  model: m.model,
  siteId: m.site_id,
  accountId: m.account_id,
  isPrepaid: m.is_prepaid,
  isActive: m.is_active,
  communicationStatus: m.communication_status,
  lastReading: m.last_reading,
  lastReadingDate: m.last_reading_date,
  relayState: m.relay_state,
  relayStateAt: m.relay_state_at,
  relayStateSource: m.relay_state_source,
  createdAt: m.created_at,
  updatedAt: m.updated_at,
  ...(device !== undefined ? { device: device ? deviceDto(device) : null } : {}),
});

export const readingDto = (r: MeterReading) => ({
  id: r.id,
  meterId: r.meter_id,
  deviceId: r.device_id,
  readingValue: r.reading_value,
  readingDate: r.reading_date,
  readingType: r.reading_type,
  pulseCount: r.pulse_count,
  temperature: r.temperature,
  humidity: r.humidity,
  rssi: r.rssi,
  snr: r.snr,
  batteryLevel: r.battery_level,
  voltage: r.voltage,
  current: r.current,
  power: r.power,
  energyImport: r.energy_import,
  energyExport: r.energy_export,
  frequency: r.frequency,
  powerFactor: r.power_factor,
  fCnt: r.f_cnt,
  extra: r.extra,
  rawPayload: r.raw_payload,
  receivedAt: r.received_at,
});

export const registryRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/sites',
    access: operators,
    body: siteInput,
    summary: 'Register a site (estate, mini-grid, building)',
    successStatus: 201,
    errors: [409],
    handle: async ({ body, deps, principal, requestId }) => ({
      status: 201,
      body: siteDto(await createSite(deps.db, body, { principal, requestId })),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/sites',
    access: readers,
    query: pagingQuery,
    summary: 'List sites by code',
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await listSites(deps.db, query), query, siteDto) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/meters',
    access: operators,
    body: meterInput,
    summary: 'Register a meter, optionally with the device that serves it',
    successStatus: 201,
    errors: [409],
    handle: async ({ body, deps, principal, requestId }) => {
      const { meter, device } = await createMeter(deps.db, body, { principal, requestId }, deps.now());
      return { status: 201, body: meterDto(meter, device), headers: { location: `/meters/${meter.id}` } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters',
    access: readers,
    query: meterListQuery,
    summary: 'List meters in registration order, by meter number, serial, site, account, communication status, relay state, or a search (q)',
    handle: async ({ query, deps }) => {
      const { q, ...filter } = query;
      const meters = await listMeters(deps.db, { ...filter, ...(q ? { search: q } : {}) });
      return { status: 200, body: listBody(meters, query, (m) => ({ ...meterDto(m), devEui: m.current_dev_eui })) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}',
    access: readers,
    params: meterRefParam,
    summary: 'One meter, by its id or its meter number, with its current device',
    handle: async ({ params, deps }) => {
      const { meter, device } = await getMeter(deps.db, params.id);
      return { status: 200, body: meterDto(meter, device) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: '/meters/{id}',
    access: operators,
    params: meterRefParam,
    body: meterPatch,
    summary: "Change a meter's details, prepaid flag or active flag (audited before/after)",
    handle: async ({ params, body, deps, principal, requestId }) => {
      const { meter, device } = await updateMeter(deps.db, params.id, body, { principal, requestId });
      return { status: 200, body: meterDto(meter, device) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/readings',
    access: readers,
    params: uuidParam,
    query: readingsQuery,
    summary: "A meter's readings, newest first, in [from, to)",
    handle: async ({ params, query, deps }) => ({
      status: 200,
      body: { items: (await listReadings(deps.db, params.id, query)).map(readingDto) },
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/meters/{id}/devices',
    access: operators,
    params: uuidParam,
    body: attachDeviceBody,
    summary: 'Make a device serve a meter (a swap; history kept)',
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: deviceDto(await attachDevice(deps.db, params.id, body.deviceId, { principal, requestId }, deps.now())),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/devices',
    access: operators,
    body: deviceInput,
    summary: 'Register a device (config merged over its type defaults and checked)',
    successStatus: 201,
    errors: [409],
    handle: async ({ body, deps, principal, requestId }) => {
      const device = await createDevice(deps.db, body, { principal, requestId }, deps.now());
      return { status: 201, body: deviceDto(device), headers: { location: `/devices/${device.id}` } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/devices/import',
    access: operators,
    body: z.string(),
    textBody: { mediaType: 'text/csv', maxBytes: MAX_IMPORT_BYTES },
    summary: 'Register devices from CSV (header: deviceType, devEui, meterNo, model, manufacturer, lifecycle, siteId, expectedUplinkIntervalS, meterId, config): all or nothing, errors by line',
    successStatus: 201,
    handle: async ({ body, deps, principal, requestId }) => {
      const devices = await importDevices(deps.db, body, { principal, requestId }, deps.now());
      return { status: 201, body: { imported: devices.length, items: devices.map(deviceDto) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/devices',
    access: readers,
    query: deviceListQuery,
    summary: 'List devices in registration order, by DevEUI, meter number, type, lifecycle, site',
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await listDevices(deps.db, query), query, deviceDto) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/devices/{id}',
    access: readers,
    params: uuidParam,
    summary: 'One device',
    handle: async ({ params, deps }) => ({ status: 200, body: deviceDto(await getDevice(deps.db, params.id)) }),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/devices/{id}',
    access: operators,
    params: uuidParam,
    body: devicePatch,
    summary: "Change a device: metadata, config (JSON merge patch, checked against its type), lifecycle (audited before/after)",
    errors: [409],
    handle: async ({ params, body, deps, principal, requestId }) => ({ status: 200, body: deviceDto(await updateDevice(deps.db, params.id, body, { principal, requestId })) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/devices/{id}/events',
    access: readers,
    params: uuidParam,
    query: deviceEventsQuery,
    summary: "A device's events (up, status, join, log, ack, txack, ESP32 status), newest first",
    handle: async ({ params, query, deps }) => ({ status: 200, body: listBody(await listDeviceEvents(deps.db, params.id, { ...query, types: query.type }), query, eventDto) }),
  }),
];
