// HTTP routes for the registry: sites, meters (with their readings) and devices.
import * as z from 'zod';
import type { MeterReading } from '#store/schema';
import type { AppDeps } from '../deps.ts';
import { defineRoute, pageQuery, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { operators, readers } from '#domain/roles';
import {
  attachDevice,
  createDevice,
  createMeter,
  createSite,
  deviceDto,
  deviceInput,
  deviceListQuery,
  getDevice,
  getMeter,
  listDevices,
  listMeters,
  listReadings,
  listSites,
  meterDto,
  meterInput,
  meterListQuery,
  readingsQuery,
  siteDto,
  siteInput,
} from '../registry.ts';


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
    query: pageQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listSites(deps.db, query.limit, query.offset)).map(siteDto) } }),
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
    handle: async ({ query, deps }) => ({ status: 200, body: { items: (await listMeters(deps.db, query)).map((m) => meterDto(m)) } }),
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
    body: z.strictObject({ deviceId: z.string().uuid() }),
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
