// Registration and listing of sites, meters and devices: the seed's "register the meter before data
// arrives" step as use cases. Every change is audited in the transaction that makes it.
import * as z from 'zod';
import { inTransaction, type Db, type Executor, type Tx } from '#store/db';
import * as store from '#store/registry';
import { linkMeter as linkMeterToAccount } from '#store/accounts';
import type { Device, Meter, MeterReading, Site } from '#store/schema';
import { deviceTypes, profileOf } from '#domain/device-profiles';
import { devEuiSchema, meterNoSchema } from '#domain/topics';
import { audit, type Actor } from '../audit.ts';
import { DeviceDecommissionedError, DeviceNotFoundError, MeterNotFoundError } from './errors.ts';

const jsonObject = z.record(z.string(), z.unknown());

export const siteInput = z.strictObject({
  code: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (1-64), starting with a letter or digit'),
  name: z.string().trim().min(1).max(200),
  timezone: z.string().min(1).max(64).default('UTC'),
  address: z.string().max(500).optional(),
});
export type SiteInput = z.infer<typeof siteInput>;

export const deviceInput = z
  .strictObject({
    deviceType: z.enum(deviceTypes),
    devEui: devEuiSchema.optional(),
    meterNo: meterNoSchema.optional(),
    model: z.string().max(100).optional(),
    manufacturer: z.string().max(100).optional(),
    capabilities: z.record(z.string(), z.boolean()).optional(),
    config: jsonObject.optional(),
    lifecycle: z.enum(['installed', 'active', 'decommissioned']).default('active'),
    siteId: z.string().uuid().optional(),
    expectedUplinkIntervalS: z.number().int().positive().max(30 * 86_400).optional(),
    meterId: z.string().uuid().optional(),
  })
  .superRefine((d, ctx) => {
    const kind = profileOf(d.deviceType).kind;
    if (kind === 'lorawan' && !d.devEui) ctx.addIssue({ code: 'custom', path: ['devEui'], message: `a ${d.deviceType} is a LoRaWAN device: devEui is required` });
    if (kind === 'esp32' && !d.meterNo) ctx.addIssue({ code: 'custom', path: ['meterNo'], message: 'an ESP32 meter is addressed by meterNo: it is required' });
  });
export type DeviceInput = z.infer<typeof deviceInput>;

export const meterInput = z
  .strictObject({
    meterNo: meterNoSchema,
    meterType: z.enum(['electricity', 'water']),
    serialNumber: z.string().max(100).optional(),
    manufacturer: z.string().max(100).optional(),
    model: z.string().max(100).optional(),
    siteId: z.string().uuid().optional(),
    accountId: z.string().uuid().optional(),
    isPrepaid: z.boolean().default(true),
    /** Register the device that serves this meter in the same request. */
    device: deviceInput.optional(),
  });
export type MeterInput = z.infer<typeof meterInput>;

export async function createSite(db: Db, input: SiteInput, actor: Actor): Promise<Site> {
  return inTransaction(db, `site ${input.code}`, async (trx) => {
    const site = await store.insertSite(trx, { code: input.code, name: input.name, timezone: input.timezone, address: input.address ?? null });
    await audit(trx, actor.principal, actor.requestId, { action: 'site.create', targetType: 'site', targetId: site.id, details: input });
    return site;
  });
}

/** A device as its type's profile fills it in: what the request leaves out comes from the catalogue. */
async function insertDevice(trx: Tx, input: DeviceInput): Promise<Device> {
  const profile = profileOf(input.deviceType);
  return store.insertDevice(trx, {
    kind: profile.kind,
    device_type: input.deviceType,
    dev_eui: input.devEui ?? null,
    meter_no: input.meterNo ?? null,
    decoder: profile.decoder,
    model: input.model ?? profile.model,
    manufacturer: input.manufacturer ?? profile.manufacturer,
    capabilities: { ...profile.capabilities, ...input.capabilities },
    config: { ...profile.defaultConfig, ...input.config },
    lifecycle: input.lifecycle,
    site_id: input.siteId ?? null,
    expected_uplink_interval_s: input.expectedUplinkIntervalS ?? profile.defaultUplinkIntervalS ?? null,
  });
}

export async function createDevice(db: Db, input: DeviceInput, actor: Actor, now: Date): Promise<Device> {
  return inTransaction(db, `device ${input.devEui ?? input.meterNo ?? ''}`.trim(), async (trx) => {
    if (input.meterId) await requireMeter(trx, input.meterId);
    const device = await insertDevice(trx, input);
    if (input.meterId) await store.assignDevice(trx, input.meterId, device.id, now);
    await audit(trx, actor.principal, actor.requestId, { action: 'device.create', targetType: 'device', targetId: device.id, details: input });
    return device;
  });
}

export async function createMeter(db: Db, input: MeterInput, actor: Actor, now: Date): Promise<{ meter: Meter; device: Device | null }> {
  return inTransaction(db, `meter ${input.meterNo}`, async (trx) => {
    const meter = await store.insertMeter(trx, {
      meter_no: input.meterNo,
      meter_type: input.meterType,
      unit: input.meterType === 'electricity' ? 'kWh' : 'm3',
      serial_number: input.serialNumber ?? null,
      manufacturer: input.manufacturer ?? null,
      model: input.model ?? null,
      site_id: input.siteId ?? null,
      account_id: input.accountId ?? null,
      is_prepaid: input.isPrepaid,
    });
    // The account link has a history (account_meters), which payments match meter numbers through.
    if (input.accountId) await linkMeterToAccount(trx, meter.id, input.accountId, now);
    let device: Device | null = null;
    if (input.device) {
      device = await insertDevice(trx, { ...input.device, siteId: input.device.siteId ?? input.siteId });
      await store.assignDevice(trx, meter.id, device.id, now);
    }
    await audit(trx, actor.principal, actor.requestId, { action: 'meter.create', targetType: 'meter', targetId: meter.id, details: input });
    return { meter, device };
  });
}

/** Make a registered device the one serving a meter (a device swap), closing the assignments it replaces. */
export async function attachDevice(db: Db, meterId: string, deviceId: string, actor: Actor, now: Date): Promise<Device> {
  return inTransaction(db, 'device assignment', async (trx) => {
    await requireMeter(trx, meterId);
    const device = await store.findDevice(trx, deviceId);
    if (!device) throw new DeviceNotFoundError(deviceId);
    if (device.lifecycle === 'decommissioned') throw new DeviceDecommissionedError(deviceId);
    await store.assignDevice(trx, meterId, deviceId, now);
    await audit(trx, actor.principal, actor.requestId, { action: 'meter.attach_device', targetType: 'meter', targetId: meterId, details: { deviceId } });
    return device;
  });
}

async function requireMeter(db: Executor, id: string): Promise<Meter> {
  const meter = await store.findMeter(db, id);
  if (!meter) throw new MeterNotFoundError(id);
  return meter;
}

/** A meter with the device serving it now (null when none does). */
export async function getMeter(db: Db, id: string): Promise<{ meter: Meter; device: Device | null }> {
  const meter = await requireMeter(db, id);
  return { meter, device: await store.currentDeviceOf(db, id) };
}

export async function getDevice(db: Db, id: string): Promise<Device> {
  const device = await store.findDevice(db, id);
  if (!device) throw new DeviceNotFoundError(id);
  return device;
}

export const listSites = (db: Db, page: store.Page): Promise<Site[]> => store.listSites(db, page);
export const listMeters = (db: Db, filter: store.MeterFilter): Promise<store.ListedMeter[]> => store.listMeters(db, filter);
export const listDevices = (db: Db, filter: store.DeviceFilter): Promise<Device[]> => store.listDevices(db, filter);

/** A meter's readings, newest first; an unknown meter is a 404, not an empty list. */
export async function listReadings(db: Db, meterId: string, filter: store.ReadingFilter): Promise<MeterReading[]> {
  await requireMeter(db, meterId);
  return store.listReadings(db, meterId, filter);
}
