// The registry's store: sites, devices, meters, which device serves which meter (meter_devices, read
// through the meter_current_device view), and a meter's readings as the API lists them.
import type { Insertable } from 'kysely';
import type { Executor, Tx } from './db.ts';
import { mapDbError } from './errors.ts';
import type { Device, DeviceKind, Meter, MeterReading, MetersTable, MeterType, NewDevice, Site, SitesTable } from './schema.ts';

export interface Page {
  limit: number;
  offset: number;
}

// ---- Sites ----

export async function insertSite(db: Executor, site: Insertable<SitesTable>): Promise<Site> {
  return db.insertInto('sites').values(site).returningAll().executeTakeFirstOrThrow();
}

export async function listSites(db: Executor, page: Page): Promise<Site[]> {
  return db.selectFrom('sites').selectAll().orderBy('code').limit(page.limit).offset(page.offset).execute();
}

// ---- Devices ----

export async function insertDevice(db: Executor, device: NewDevice): Promise<Device> {
  return db.insertInto('devices').values(device).returningAll().executeTakeFirstOrThrow();
}

export async function findDevice(db: Executor, id: string): Promise<Device | undefined> {
  return db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface DeviceFilter extends Page {
  kind?: DeviceKind;
  deviceType?: string;
  siteId?: string;
}

export async function listDevices(db: Executor, filter: DeviceFilter): Promise<Device[]> {
  let query = db.selectFrom('devices').selectAll();
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  if (filter.deviceType) query = query.where('device_type', '=', filter.deviceType);
  if (filter.siteId) query = query.where('site_id', '=', filter.siteId);
  return query.orderBy('created_at').orderBy('id').limit(filter.limit).offset(filter.offset).execute();
}

// ---- Meters ----

export async function insertMeter(db: Executor, meter: Insertable<MetersTable>): Promise<Meter> {
  return db.insertInto('meters').values(meter).returningAll().executeTakeFirstOrThrow();
}

export async function findMeter(db: Executor, id: string): Promise<Meter | undefined> {
  return db.selectFrom('meters').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface MeterFilter extends Page {
  siteId?: string;
  meterType?: MeterType;
  communicationStatus?: 'online' | 'offline' | 'unknown';
  relayState?: 'on' | 'off' | 'unknown';
  /** Part of the meter number, serial number or the current device's DevEUI, any letter case. */
  search?: string;
}

/** A meter as lists show it: with the DevEUI of the device serving it now (null without one, or for an ESP32). */
export type ListedMeter = Meter & { current_dev_eui: string | null };

export async function listMeters(db: Executor, filter: MeterFilter): Promise<ListedMeter[]> {
  let query = db
    .selectFrom('meters')
    .leftJoin('meter_current_device as mcd', 'mcd.meter_id', 'meters.id')
    .leftJoin('devices as cd', 'cd.id', 'mcd.device_id')
    .selectAll('meters')
    .select('cd.dev_eui as current_dev_eui');
  if (filter.siteId) query = query.where('meters.site_id', '=', filter.siteId);
  if (filter.meterType) query = query.where('meters.meter_type', '=', filter.meterType);
  if (filter.communicationStatus) query = query.where('meters.communication_status', '=', filter.communicationStatus);
  if (filter.relayState) query = query.where('meters.relay_state', '=', filter.relayState);
  if (filter.search) {
    // LIKE's own wildcards in the search text match themselves.
    const pattern = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) => eb.or([eb('meters.meter_no', 'ilike', pattern), eb('meters.serial_number', 'ilike', pattern), eb('cd.dev_eui', 'ilike', pattern)]));
  }
  return query.orderBy('meters.created_at').orderBy('meters.id').limit(filter.limit).offset(filter.offset).execute();
}

// ---- Which device serves which meter ----

/** The device serving `meterId` now, if any. */
export async function currentDeviceOf(db: Executor, meterId: string): Promise<Device | null> {
  const row = await db
    .selectFrom('meter_current_device')
    .innerJoin('devices', 'devices.id', 'meter_current_device.device_id')
    .selectAll('devices')
    .where('meter_current_device.meter_id', '=', meterId)
    .executeTakeFirst();
  return row ?? null;
}

/**
 * Make `deviceId` the device serving `meterId` from `at`, closing whichever assignments it replaces (the
 * meter's previous device, and the device's previous meter). Run it in the transaction that decides it.
 */
export async function assignDevice(db: Tx, meterId: string, deviceId: string, at: Date): Promise<void> {
  await db
    .updateTable('meter_devices')
    .set({ valid_to: at })
    .where('valid_to', 'is', null)
    .where((eb) => eb.or([eb('meter_id', '=', meterId), eb('device_id', '=', deviceId)]))
    .execute();
  await db.insertInto('meter_devices').values({ meter_id: meterId, device_id: deviceId, valid_from: at }).execute();
}

// ---- Readings ----

export interface ReadingFilter {
  from?: Date;
  to?: Date;
  limit: number;
}

/** A meter's readings, newest first, in [from, to). */
export async function listReadings(db: Executor, meterId: string, filter: ReadingFilter): Promise<MeterReading[]> {
  let query = db.selectFrom('meter_readings').selectAll().where('meter_id', '=', meterId);
  if (filter.from) query = query.where('reading_date', '>=', filter.from);
  if (filter.to) query = query.where('reading_date', '<', filter.to);
  try {
    return await query.orderBy('reading_date', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  } catch (error) {
    throw mapDbError(error, 'readings query');
  }
}
