// Registration and listing of sites, meters and devices: the seed's "register the meter before data
// arrives" step as use cases. Every change is audited in the transaction that makes it.
import * as z from 'zod';
import { inTransaction, type Db, type Executor, type Tx } from '#store/db';
import * as store from '#store/registry';
import { linkMeter as linkMeterToAccount } from '#store/accounts';
import type { Device, Meter, MeterReading, NewDevice, Site } from '#store/schema';
import { canMoveLifecycle, checkDeviceConfig, lifecycles, mergeConfig } from '#domain/device-config';
import { deviceTypes, profileOf, type DeviceType } from '#domain/device-profiles';
import { issueLines } from '#domain/issues';
import { devEuiSchema, meterNoSchema } from '#domain/topics';
import { ValidationError } from '#shared/errors';
import { audit, type Actor } from '../audit.ts';
import { DeviceConfigInvalidError, DeviceDecommissionedError, DeviceNotFoundError, LifecycleTransitionError, MeterNotFoundError } from './errors.ts';

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

/** A device's config as its type's schema accepts it, or a 400 listing every issue under `where`. */
function requireValidConfig(deviceType: DeviceType, config: Record<string, unknown>, where: string): void {
  const checked = checkDeviceConfig(deviceType, config);
  if (!checked.success) {
    const errors = issueLines(checked.error).map((e) => ({ ...e, path: `${where}.${e.path}` }));
    throw new DeviceConfigInvalidError(`config is not valid for a ${deviceType}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
}

/** A device row as its type's profile fills it in: what the request leaves out comes from the catalogue. */
export function deviceRow(input: DeviceInput): NewDevice {
  const profile = profileOf(input.deviceType);
  return {
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
  };
}

async function insertDevice(trx: Tx, input: DeviceInput, where = 'body.config'): Promise<Device> {
  const row = deviceRow(input);
  requireValidConfig(input.deviceType, { ...profileOf(input.deviceType).defaultConfig, ...input.config }, where);
  return store.insertDevice(trx, row);
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
      device = await insertDevice(trx, { ...input.device, siteId: input.device.siteId ?? input.siteId }, 'body.device.config');
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

/** A meter, named by its id or its meter number, with the device serving it now (null when none does). */
export async function getMeter(db: Db, ref: string): Promise<{ meter: Meter; device: Device | null }> {
  const meter = await store.findMeterByRef(db, ref);
  if (!meter) throw new MeterNotFoundError(ref);
  return { meter, device: await store.currentDeviceOf(db, meter.id) };
}

export async function getDevice(db: Db, id: string): Promise<Device> {
  const device = await store.findDevice(db, id);
  if (!device) throw new DeviceNotFoundError(id);
  return device;
}

export const listSites = (db: Db, page: store.Page): Promise<store.Listed<Site>> => store.listSites(db, page);
export const listMeters = (db: Db, filter: store.MeterFilter): Promise<store.Listed<store.ListedMeter>> => store.listMeters(db, filter);
export const listDevices = (db: Db, filter: store.DeviceFilter): Promise<store.Listed<Device>> => store.listDevices(db, filter);

/** A device's events, newest first; an unknown device is a 404, not an empty list. */
export async function listDeviceEvents(db: Db, deviceId: string, filter: store.DeviceEventFilter): Promise<store.Listed<store.DeviceEvent>> {
  await getDevice(db, deviceId);
  return store.listDeviceEvents(db, deviceId, filter);
}

// ---- Changes ----

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

export const devicePatch = z
  .strictObject({
    model: nullable(z.string().max(100)),
    manufacturer: nullable(z.string().max(100)),
    capabilities: z.record(z.string(), z.boolean()).optional(),
    /** A JSON merge patch over the stored config: a key replaces, null removes, objects merge. */
    config: z.record(z.string(), z.unknown()).optional(),
    lifecycle: z.enum(lifecycles).optional(),
    siteId: nullable(z.uuid()),
    expectedUplinkIntervalS: nullable(z.number().int().positive().max(30 * 86_400)),
  });
export type DevicePatch = z.infer<typeof devicePatch>;

export const meterPatch = z
  .strictObject({
    serialNumber: nullable(z.string().max(100)),
    manufacturer: nullable(z.string().max(100)),
    model: nullable(z.string().max(100)),
    siteId: nullable(z.uuid()),
    accountId: nullable(z.uuid()),
    isPrepaid: z.boolean().optional(),
    isActive: z.boolean().optional(),
  });
export type MeterPatch = z.infer<typeof meterPatch>;

function requireSomething(patch: object): void {
  if (Object.keys(patch).length === 0) throw new ValidationError('nothing to change: give at least one field', { errors: [{ path: 'body', message: 'give at least one field' }] });
}

/** The columns a change touches, before and after, for its audit row (unchanged columns left out). */
function beforeAfter<T extends object>(before: T, after: T, columns: readonly (keyof T)[]): { before: Partial<T>; after: Partial<T> } {
  const changed = columns.filter((c) => JSON.stringify(before[c]) !== JSON.stringify(after[c]));
  return { before: Object.fromEntries(changed.map((c) => [c, before[c]])) as Partial<T>, after: Object.fromEntries(changed.map((c) => [c, after[c]])) as Partial<T> };
}

/**
 * Change a device: metadata, config (merged over what is stored and checked against its type's schema, so a
 * UC100's channel map can be fixed and its next uplink decoded with it), lifecycle (installed → active →
 * decommissioned; decommissioned is final, and its uplinks are quarantined from then on). Audited with
 * the columns it changed, before and after.
 */
export async function updateDevice(db: Db, id: string, patch: DevicePatch, actor: Actor): Promise<Device> {
  requireSomething(patch);
  return inTransaction(db, `device ${id}`, async (trx) => {
    const before = await store.findDeviceForUpdate(trx, id);
    if (!before) throw new DeviceNotFoundError(id);
    if (patch.lifecycle && !canMoveLifecycle(before.lifecycle, patch.lifecycle)) throw new LifecycleTransitionError(id, before.lifecycle, patch.lifecycle);
    if (before.lifecycle === 'decommissioned' && Object.keys(patch).some((k) => k !== 'lifecycle')) {
      throw new DeviceDecommissionedError(id);
    }
    let config: Record<string, unknown> | undefined;
    if (patch.config) {
      config = mergeConfig(before.config, patch.config);
      if (!(deviceTypes as readonly string[]).includes(before.device_type)) throw new DeviceConfigInvalidError(`device ${id} has an unknown type ${before.device_type}`);
      requireValidConfig(before.device_type as DeviceType, config, 'body.config');
    }
    const after = await store.updateDevice(trx, id, {
      ...(patch.model !== undefined ? { model: patch.model } : {}),
      ...(patch.manufacturer !== undefined ? { manufacturer: patch.manufacturer } : {}),
      ...(patch.capabilities ? { capabilities: { ...before.capabilities, ...patch.capabilities } } : {}),
      ...(config ? { config } : {}),
      ...(patch.lifecycle ? { lifecycle: patch.lifecycle } : {}),
      ...(patch.siteId !== undefined ? { site_id: patch.siteId } : {}),
      ...(patch.expectedUplinkIntervalS !== undefined ? { expected_uplink_interval_s: patch.expectedUplinkIntervalS } : {}),
    });
    const diff = beforeAfter(before, after, ['model', 'manufacturer', 'capabilities', 'config', 'lifecycle', 'site_id', 'expected_uplink_interval_s']);
    const action = patch.lifecycle && patch.lifecycle !== before.lifecycle ? `device.${patch.lifecycle === 'decommissioned' ? 'decommission' : 'update'}` : 'device.update';
    await audit(trx, actor.principal, actor.requestId, { action, targetType: 'device', targetId: id, details: { patch, ...diff } });
    return after;
  });
}

/** Change a meter's details, prepaid flag or active flag (its number and type are its identity). Audited before/after. */
export async function updateMeter(db: Db, ref: string, patch: MeterPatch, actor: Actor): Promise<{ meter: Meter; device: Device | null }> {
  requireSomething(patch);
  return inTransaction(db, `meter ${ref}`, async (trx) => {
    const found = await store.findMeterByRef(trx, ref);
    if (!found) throw new MeterNotFoundError(ref);
    const before = await store.findMeterForUpdate(trx, found.id);
    if (!before) throw new MeterNotFoundError(ref);
    const after = await store.updateMeter(trx, before.id, {
      ...(patch.serialNumber !== undefined ? { serial_number: patch.serialNumber } : {}),
      ...(patch.manufacturer !== undefined ? { manufacturer: patch.manufacturer } : {}),
      ...(patch.model !== undefined ? { model: patch.model } : {}),
      ...(patch.siteId !== undefined ? { site_id: patch.siteId } : {}),
      ...(patch.accountId !== undefined ? { account_id: patch.accountId } : {}),
      ...(patch.isPrepaid !== undefined ? { is_prepaid: patch.isPrepaid } : {}),
      ...(patch.isActive !== undefined ? { is_active: patch.isActive } : {}),
    });
    const diff = beforeAfter(before, after, ['serial_number', 'manufacturer', 'model', 'site_id', 'account_id', 'is_prepaid', 'is_active']);
    await audit(trx, actor.principal, actor.requestId, { action: 'meter.update', targetType: 'meter', targetId: before.id, details: { patch, ...diff } });
    return { meter: after, device: await store.currentDeviceOf(trx, before.id) };
  });
}

/** A meter's readings, newest first; an unknown meter is a 404, not an empty list. */
export async function listReadings(db: Db, meterId: string, filter: store.ReadingFilter): Promise<MeterReading[]> {
  await requireMeter(db, meterId);
  return store.listReadings(db, meterId, filter);
}
