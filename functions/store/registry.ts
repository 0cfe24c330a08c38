// The registry's store: sites, devices, meters, which device serves which meter (meter_devices, read
// through the meter_current_device view), and a meter's readings as the API lists them.
import { sql, type Insertable, type SelectQueryBuilder, type Updateable } from 'kysely';
import { json, type Executor, type Tx } from './db.ts';
import { mapDbError } from './errors.ts';
import type { Database, Device, DeviceEventsTable, DeviceKind, DeviceLifecycle, DevicesTable, Meter, MeterReading, MetersTable, MeterType, NewDevice, Site, SitesTable } from './schema.ts';
import type { Selectable } from 'kysely';

export interface Page {
  limit: number;
  offset: number;
}

/**
 * A text parameter that may look like a UUID (a meter number can): the Data API driver sends UUID-shaped
 * strings as UUIDs, which PostgreSQL will not compare with a text column, so it is cast back.
 */
const asText = (value: string) => sql<string>`CAST(${value} AS text)`;

/** A page of a list and how many rows the filter matches in all. */
export interface Listed<T> {
  items: T[];
  total: number;
}

/** One page of a filtered query (in its stable order) and the filter's total, as two statements. */
async function pageOf<T, TB extends keyof Database>(
  query: SelectQueryBuilder<Database, TB, object>,
  page: Page,
  order: (q: SelectQueryBuilder<Database, TB, object>) => SelectQueryBuilder<Database, TB, T>,
): Promise<Listed<T>> {
  const [items, count] = await Promise.all([
    order(query).limit(page.limit).offset(page.offset).execute(),
    query.select(sql<number>`count(*)::integer`.as('total')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(count.total) };
}

// ---- Sites ----

export async function insertSite(db: Executor, site: Insertable<SitesTable>): Promise<Site> {
  return db.insertInto('sites').values(site).returningAll().executeTakeFirstOrThrow();
}

export async function listSites(db: Executor, page: Page): Promise<Listed<Site>> {
  return pageOf(db.selectFrom('sites'), page, (q) => q.selectAll().orderBy('code'));
}

// ---- Devices ----

export async function insertDevice(db: Executor, device: NewDevice): Promise<Device> {
  return db.insertInto('devices').values(device).returningAll().executeTakeFirstOrThrow();
}

/** Many devices in one statement (a bulk import), in the order given. */
export async function insertDevices(db: Executor, devices: NewDevice[]): Promise<Device[]> {
  if (!devices.length) return [];
  return db.insertInto('devices').values(devices).returningAll().execute();
}

/** Which of these DevEUIs and meter numbers registered devices already hold. */
export async function takenDeviceIdentities(db: Executor, devEuis: string[], meterNos: string[]): Promise<{ dev_eui: string | null; meter_no: string | null }[]> {
  if (!devEuis.length && !meterNos.length) return [];
  const result = await sql<{ dev_eui: string | null; meter_no: string | null }>`
    SELECT dev_eui, meter_no FROM devices
    WHERE dev_eui IN (SELECT jsonb_array_elements_text(${json(devEuis)}))
       OR meter_no IN (SELECT jsonb_array_elements_text(${json(meterNos)}))`.execute(db);
  return result.rows;
}

/** Which of these ids name a row of `table`. */
export async function existingIds(db: Executor, table: 'meters' | 'sites', ids: string[]): Promise<string[]> {
  if (!ids.length) return [];
  const result = await sql<{ id: string }>`SELECT id FROM ${sql.table(table)} WHERE id IN (SELECT (value)::uuid FROM jsonb_array_elements_text(${json(ids)}))`.execute(db);
  return result.rows.map((r) => r.id);
}

export async function findDevice(db: Executor, id: string): Promise<Device | undefined> {
  return db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The device row, locked until the transaction ends (a PATCH reads, merges and writes it). */
export async function findDeviceForUpdate(db: Tx, id: string): Promise<Device | undefined> {
  return db.selectFrom('devices').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function updateDevice(db: Executor, id: string, changes: Updateable<DevicesTable>): Promise<Device> {
  return db.updateTable('devices').set({ ...changes, updated_at: sql`now()` }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export interface DeviceFilter extends Page {
  kind?: DeviceKind | undefined;
  deviceType?: string | undefined;
  siteId?: string | undefined;
  devEui?: string | undefined;
  /** The device's own meter number (an ESP32) or the number of the meter it serves now. */
  meterNo?: string | undefined;
  lifecycle?: DeviceLifecycle | undefined;
}

/** Devices in registration order (created_at, then id), filtered, with the filter's total. */
export async function listDevices(db: Executor, filter: DeviceFilter): Promise<Listed<Device>> {
  let query = db.selectFrom('devices');
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  if (filter.deviceType) query = query.where('device_type', '=', filter.deviceType);
  if (filter.siteId) query = query.where('site_id', '=', filter.siteId);
  if (filter.devEui) query = query.where('dev_eui', '=', filter.devEui);
  if (filter.lifecycle) query = query.where('lifecycle', '=', filter.lifecycle);
  const meterNo = filter.meterNo;
  if (meterNo) {
    query = query.where((eb) =>
      eb.or([
        eb('meter_no', '=', asText(meterNo)),
        eb(
          'id',
          'in',
          eb.selectFrom('meter_current_device').innerJoin('meters', 'meters.id', 'meter_current_device.meter_id').select('meter_current_device.device_id').where('meters.meter_no', '=', asText(meterNo)),
        ),
      ]),
    );
  }
  return pageOf(query, filter, (q) => q.selectAll().orderBy('created_at').orderBy('id'));
}

// ---- Device events ----

export type DeviceEvent = Selectable<DeviceEventsTable>;

export interface DeviceEventFilter extends Page {
  types?: readonly string[] | undefined;
  level?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

/** A device's events (status, join, log, ack, txack, up...), newest first, in [from, to). */
export async function listDeviceEvents(db: Executor, deviceId: string, filter: DeviceEventFilter): Promise<Listed<DeviceEvent>> {
  let query = db.selectFrom('device_events').where('device_id', '=', deviceId);
  if (filter.types?.length) query = query.where('event_type', 'in', filter.types);
  if (filter.level) query = query.where('level', '=', filter.level);
  if (filter.from) query = query.where('event_time', '>=', filter.from);
  if (filter.to) query = query.where('event_time', '<', filter.to);
  try {
    return await pageOf(query, filter, (q) => q.selectAll().orderBy('event_time', 'desc').orderBy('id', 'desc'));
  } catch (error) {
    throw mapDbError(error, 'device events query');
  }
}

// ---- Meters ----

export async function insertMeter(db: Executor, meter: Insertable<MetersTable>): Promise<Meter> {
  return db.insertInto('meters').values(meter).returningAll().executeTakeFirstOrThrow();
}

export async function findMeter(db: Executor, id: string): Promise<Meter | undefined> {
  return db.selectFrom('meters').selectAll().where('id', '=', id).executeTakeFirst();
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A meter by its id or by its meter number. A meter number may itself look like a UUID: the meter whose
 * id it is wins, then the meter with that number.
 */
export async function findMeterByRef(db: Executor, ref: string): Promise<Meter | undefined> {
  if (uuidPattern.test(ref)) {
    const byId = await findMeter(db, ref.toLowerCase());
    if (byId) return byId;
  }
  return db.selectFrom('meters').selectAll().where('meter_no', '=', asText(ref)).executeTakeFirst();
}

/** The meter row, locked until the transaction ends. */
export async function findMeterForUpdate(db: Tx, id: string): Promise<Meter | undefined> {
  return db.selectFrom('meters').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function updateMeter(db: Executor, id: string, changes: Updateable<MetersTable>): Promise<Meter> {
  return db.updateTable('meters').set({ ...changes, updated_at: sql`now()` }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export interface MeterFilter extends Page {
  siteId?: string | undefined;
  accountId?: string | undefined;
  meterType?: MeterType | undefined;
  meterNo?: string | undefined;
  serialNumber?: string | undefined;
  communicationStatus?: 'online' | 'offline' | 'unknown' | undefined;
  relayState?: 'on' | 'off' | 'unknown' | undefined;
  isActive?: boolean | undefined;
  isPrepaid?: boolean | undefined;
  /** Part of the meter number, serial number or the current device's DevEUI, any letter case. */
  search?: string | undefined;
}

/** A meter as lists show it: with the DevEUI of the device serving it now (null without one, or for an ESP32). */
export type ListedMeter = Meter & { current_dev_eui: string | null };

/** Meters in registration order (created_at, then id), filtered, with the filter's total. */
export async function listMeters(db: Executor, filter: MeterFilter): Promise<Listed<ListedMeter>> {
  let query = db.selectFrom('meters');
  if (filter.siteId) query = query.where('site_id', '=', filter.siteId);
  if (filter.accountId) query = query.where('account_id', '=', filter.accountId);
  if (filter.meterType) query = query.where('meter_type', '=', filter.meterType);
  if (filter.meterNo) query = query.where('meter_no', '=', asText(filter.meterNo));
  if (filter.serialNumber) query = query.where('serial_number', '=', asText(filter.serialNumber));
  if (filter.communicationStatus) query = query.where('communication_status', '=', filter.communicationStatus);
  if (filter.relayState) query = query.where('relay_state', '=', filter.relayState);
  if (filter.isActive !== undefined) query = query.where('is_active', '=', filter.isActive);
  if (filter.isPrepaid !== undefined) query = query.where('is_prepaid', '=', filter.isPrepaid);
  if (filter.search) {
    // LIKE's own wildcards in the search text match themselves.
    const pattern = `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) =>
      eb.or([
        eb('meter_no', 'ilike', pattern),
        eb('serial_number', 'ilike', pattern),
        eb('id', 'in', eb.selectFrom('meter_current_device as mcd').innerJoin('devices as cd', 'cd.id', 'mcd.device_id').select('mcd.meter_id').where('cd.dev_eui', 'ilike', pattern)),
      ]),
    );
  }
  return pageOf(query, filter, (q) =>
    q
      .selectAll()
      .select((eb) =>
        eb.selectFrom('meter_current_device as mcd').innerJoin('devices as cd', 'cd.id', 'mcd.device_id').select('cd.dev_eui').whereRef('mcd.meter_id', '=', 'meters.id').limit(1).as('current_dev_eui'),
      )
      .orderBy('created_at')
      .orderBy('id'),
  );
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
