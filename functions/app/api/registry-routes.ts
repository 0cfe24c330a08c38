// HTTP routes for the registry: sites, meters (with their readings) and devices, and their contracts:
// the list queries and the DTOs (the request bodies are the use cases' inputs, in app/registry/registry.ts).
import * as z from 'zod';
import type { Device, Meter, MeterReading, Site } from '#store/schema';
import { deviceTypes } from '#domain/device-profiles';
import { operators, readers } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { pagingQuery } from '../http/paging.ts';
import {
  attachDevice,
  createDevice,
  createMeter,
  createSite,
  deviceInput,
  getDevice,
  getMeter,
  listDevices,
  listMeters,
  listReadings,
  listSites,
  meterInput,
  siteInput,
} from '../registry/registry.ts';

// ---- Queries ----

const meterListQuery = pagingQuery.extend({
  siteId: z.string().uuid().optional(),
  meterType: z.enum(['electricity', 'water']).optional(),
  communicationStatus: z.enum(['online', 'offline', 'unknown']).optional(),
  relayState: z.enum(['on', 'off', 'unknown']).optional(),
  /** Part of the meter number, serial number or DevEUI (the portal's search box). */
  q: z.string().trim().min(1).max(64).optional(),
});

const deviceListQuery = pagingQuery.extend({
  kind: z.enum(['lorawan', 'esp32', 'modbus_tcp']).optional(),
  deviceType: z.enum(deviceTypes).optional(),
  siteId: z.string().uuid().optional(),
});

// Years PostgreSQL and JavaScript agree on; anything else is a typo, answered with a 400.
export const queryDate = z.coerce
  .date()
  .refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'must be a date between 1970 and 9999');

/** Readings page by time, not offset: `from`/`to` bound the window, newest first, up to 5000 at once. */
const readingsQuery = z.object({
  from: queryDate.optional(),
  to: queryDate.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(100),
});

const attachDeviceBody = z.strictObject({ deviceId: z.string().uuid() });

// ---- Responses ----

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
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listSites(deps.db, query)).map(siteDto) } }),
  }),
  defineRoute({
    method: 'POST',
    path: '/meters',
    access: operators,
    body: meterInput,
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
    handle: async ({ query, deps }) => {
      const { q, ...filter } = query;
      const meters = await listMeters(deps.db, { ...filter, ...(q ? { search: q } : {}) });
      return { status: 200, body: { items: meters.map((m) => ({ ...meterDto(m), devEui: m.current_dev_eui })) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => {
      const { meter, device } = await getMeter(deps.db, params.id);
      return { status: 200, body: meterDto(meter, device) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/readings',
    access: readers,
    params: uuidParam,
    query: readingsQuery,
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
    handle: async ({ body, deps, principal, requestId }) => {
      const device = await createDevice(deps.db, body, { principal, requestId }, deps.now());
      return { status: 201, body: deviceDto(device), headers: { location: `/devices/${device.id}` } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/devices',
    access: readers,
    query: deviceListQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listDevices(deps.db, query)).map(deviceDto) } }),
  }),
  defineRoute({
    method: 'GET',
    path: '/devices/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => ({ status: 200, body: deviceDto(await getDevice(deps.db, params.id)) }),
  }),
];
