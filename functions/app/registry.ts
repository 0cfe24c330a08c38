// Registration and listing of sites, meters and devices: the seed's "register the meter before data
// arrives" step as an API. Every change is audited in the transaction that makes it.
import { sql, type Transaction } from 'kysely';
import * as z from 'zod';
import type { Db } from '#store/db';
import { mapDbError } from '#store/errors';
import type { Database, Device, Meter, Site } from '#store/schema';
import { deviceTypes, profileOf } from '#domain/device-profiles';
import { NotFoundError, ValidationError } from '#shared/errors';
import { audit } from './audit.ts';
import type { Principal } from '#domain/roles';

export const devEuiSchema = z
  .string()
  .transform((s) => s.replace(/[-:\s]/g, '').toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits (the LoRaWAN DevEUI)'));
export const meterNoSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (1-64)');
const jsonObject = z.record(z.string(), z.unknown());

export const siteInput = z.strictObject({
  code: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (1-64), starting with a letter or digit'),
  name: z.string().trim().min(1).max(200),
  timezone: z.string().min(1).max(64).default('UTC'),
  address: z.string().max(500).optional(),
});

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

export const siteDto = (s: Site) => ({
  id: s.id,
  code: s.code,
  name: s.name,
  timezone: s.timezone,
  address: s.address,
  createdAt: s.created_at,
});

export const deviceDto = (d: Device) => ({
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

export const meterDto = (m: Meter, device?: Device | null) => ({
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

interface Actor {
  principal: Principal;
  requestId?: string;
}

async function inTransaction<T>(db: Db, what: string, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  try {
    return await db.transaction().execute(work);
  } catch (error) {
    throw mapDbError(error, what);
  }
}

export async function createSite(db: Db, input: z.infer<typeof siteInput>, actor: Actor) {
  return inTransaction(db, `site ${input.code}`, async (trx) => {
    const site = await trx
      .insertInto('sites')
      .values({ code: input.code, name: input.name, timezone: input.timezone, address: input.address ?? null })
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(trx, actor.principal, actor.requestId, { action: 'site.create', targetType: 'site', targetId: site.id, details: input });
    return site;
  });
}

async function insertDevice(trx: Transaction<Database>, input: DeviceInput): Promise<Device> {
  const profile = profileOf(input.deviceType);
  const device = await trx
    .insertInto('devices')
    .values({
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
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return device;
}

/** Make `deviceId` the device serving `meterId`, closing whichever assignments it replaces. */
async function assignDevice(trx: Transaction<Database>, meterId: string, deviceId: string, at: Date): Promise<void> {
  await trx
    .updateTable('meter_devices')
    .set({ valid_to: at })
    .where('valid_to', 'is', null)
    .where((eb) => eb.or([eb('meter_id', '=', meterId), eb('device_id', '=', deviceId)]))
    .execute();
  await trx.insertInto('meter_devices').values({ meter_id: meterId, device_id: deviceId, valid_from: at }).execute();
}

export async function createDevice(db: Db, input: DeviceInput, actor: Actor, now: Date) {
  return inTransaction(db, `device ${input.devEui ?? input.meterNo ?? ''}`.trim(), async (trx) => {
    if (input.meterId) await requireMeter(trx, input.meterId);
    const device = await insertDevice(trx, input);
    if (input.meterId) await assignDevice(trx, input.meterId, device.id, now);
    await audit(trx, actor.principal, actor.requestId, { action: 'device.create', targetType: 'device', targetId: device.id, details: input });
    return device;
  });
}

export async function createMeter(db: Db, input: MeterInput, actor: Actor, now: Date) {
  return inTransaction(db, `meter ${input.meterNo}`, async (trx) => {
    const meter = await trx
      .insertInto('meters')
      .values({
        meter_no: input.meterNo,
        meter_type: input.meterType,
        unit: input.meterType === 'electricity' ? 'kWh' : 'm3',
        serial_number: input.serialNumber ?? null,
        manufacturer: input.manufacturer ?? null,
        model: input.model ?? null,
        site_id: input.siteId ?? null,
        account_id: input.accountId ?? null,
        is_prepaid: input.isPrepaid,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    let device: Device | null = null;
    if (input.device) {
      device = await insertDevice(trx, { ...input.device, siteId: input.device.siteId ?? input.siteId });
      await assignDevice(trx, meter.id, device.id, now);
    }
    await audit(trx, actor.principal, actor.requestId, { action: 'meter.create', targetType: 'meter', targetId: meter.id, details: input });
    return { meter, device };
  });
}

export async function attachDevice(db: Db, meterId: string, deviceId: string, actor: Actor, now: Date) {
  return inTransaction(db, 'device assignment', async (trx) => {
    await requireMeter(trx, meterId);
    const device = await trx.selectFrom('devices').selectAll().where('id', '=', deviceId).executeTakeFirst();
    if (!device) throw new NotFoundError(`device ${deviceId} does not exist`);
    if (device.lifecycle === 'decommissioned') throw new ValidationError(`device ${deviceId} is decommissioned`);
    await assignDevice(trx, meterId, deviceId, now);
    await audit(trx, actor.principal, actor.requestId, { action: 'meter.attach_device', targetType: 'meter', targetId: meterId, details: { deviceId } });
    return device;
  });
}

async function requireMeter(db: Db | Transaction<Database>, id: string): Promise<Meter> {
  const meter = await db.selectFrom('meters').selectAll().where('id', '=', id).executeTakeFirst();
  if (!meter) throw new NotFoundError(`meter ${id} does not exist`);
  return meter;
}

export async function getMeter(db: Db, id: string) {
  const meter = await requireMeter(db, id);
  return { meter, device: await currentDevice(db, id) };
}

export async function currentDevice(db: Db | Transaction<Database>, meterId: string): Promise<Device | null> {
  const row = await db
    .selectFrom('meter_devices')
    .innerJoin('devices', 'devices.id', 'meter_devices.device_id')
    .selectAll('devices')
    .where('meter_devices.meter_id', '=', meterId)
    .where('meter_devices.valid_to', 'is', null)
    .executeTakeFirst();
  return row ?? null;
}

export const meterListQuery = z.object({
  siteId: z.string().uuid().optional(),
  meterType: z.enum(['electricity', 'water']).optional(),
  communicationStatus: z.enum(['online', 'offline', 'unknown']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export async function listMeters(db: Db, q: z.infer<typeof meterListQuery>) {
  let query = db.selectFrom('meters').selectAll();
  if (q.siteId) query = query.where('site_id', '=', q.siteId);
  if (q.meterType) query = query.where('meter_type', '=', q.meterType);
  if (q.communicationStatus) query = query.where('communication_status', '=', q.communicationStatus);
  return query.orderBy('created_at').orderBy('id').limit(q.limit).offset(q.offset).execute();
}

export const deviceListQuery = z.object({
  kind: z.enum(['lorawan', 'esp32', 'modbus_tcp']).optional(),
  deviceType: z.enum(deviceTypes).optional(),
  siteId: z.string().uuid().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export async function listDevices(db: Db, q: z.infer<typeof deviceListQuery>) {
  let query = db.selectFrom('devices').selectAll();
  if (q.kind) query = query.where('kind', '=', q.kind);
  if (q.deviceType) query = query.where('device_type', '=', q.deviceType);
  if (q.siteId) query = query.where('site_id', '=', q.siteId);
  return query.orderBy('created_at').orderBy('id').limit(q.limit).offset(q.offset).execute();
}

export async function getDevice(db: Db, id: string): Promise<Device> {
  const device = await db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
  if (!device) throw new NotFoundError(`device ${id} does not exist`);
  return device;
}

export async function listSites(db: Db, limit: number, offset: number) {
  return db.selectFrom('sites').selectAll().orderBy('code').limit(limit).offset(offset).execute();
}

// Years PostgreSQL and JavaScript agree on; anything else is a typo, answered with a 400.
const queryDate = z.coerce
  .date()
  .refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'must be a date between 1970 and 9999');

export const readingsQuery = z.object({
  from: queryDate.optional(),
  to: queryDate.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(100),
});

export async function listReadings(db: Db, meterId: string, q: z.infer<typeof readingsQuery>) {
  await requireMeter(db, meterId);
  let query = db.selectFrom('meter_readings').selectAll().where('meter_id', '=', meterId);
  if (q.from) query = query.where('reading_date', '>=', q.from);
  if (q.to) query = query.where('reading_date', '<', q.to);
  try {
    return await query.orderBy('reading_date', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
  } catch (error) {
    throw mapDbError(error, 'readings query');
  }
}

export async function databaseReachable(db: Db): Promise<boolean> {
  try {
    await sql`SELECT 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}
