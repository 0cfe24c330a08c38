// The parking store: spaces (retired, never deleted), which device is a space's sensor or display over
// time, reservations and their windows, the display commands (with their actuation audit rows) a state
// change calls for, and the reads the API serves (occupancy events, actuations, occupancy per zone).
import { sql, type Insertable, type Updateable } from 'kysely';
import { json, type Executor, type Tx } from './db.ts';
import type { Actuation, ActuationTrigger, OccupancyEvent, ParkingReservation, ParkingSpace, ParkingSpacesTable, ReservationStatus } from './schema.ts';
import type { Listed, Page } from './registry.ts';

// ---- Spaces ----

export async function insertSpace(db: Executor, space: Insertable<ParkingSpacesTable>): Promise<ParkingSpace> {
  return db.insertInto('parking_spaces').values(space).returningAll().executeTakeFirstOrThrow();
}

export async function findSpace(db: Executor, id: string): Promise<ParkingSpace | undefined> {
  return db.selectFrom('parking_spaces').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The space row, locked until the transaction ends: every state change and reservation takes it first. */
export async function findSpaceForUpdate(db: Tx, id: string): Promise<ParkingSpace | undefined> {
  return db.selectFrom('parking_spaces').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function updateSpace(db: Executor, id: string, changes: Updateable<ParkingSpacesTable>): Promise<ParkingSpace> {
  return db.updateTable('parking_spaces').set({ ...changes, updated_at: sql`now()` }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export interface SpaceFilter extends Page {
  siteId?: string | undefined;
  zone?: string | undefined;
  state?: string | undefined;
  includeRetired?: boolean | undefined;
}

export async function listSpaces(db: Executor, filter: SpaceFilter): Promise<Listed<ParkingSpace>> {
  let query = db.selectFrom('parking_spaces');
  if (filter.siteId) query = query.where('site_id', '=', filter.siteId);
  if (filter.zone) query = query.where('zone', '=', filter.zone);
  if (filter.state) query = query.where('current_state', '=', filter.state as ParkingSpace['current_state']);
  if (!filter.includeRetired) query = query.where('retired_at', 'is', null);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('code').limit(filter.limit).offset(filter.offset).execute(),
    query.select(sql<number>`count(*)::integer`.as('total')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(count.total) };
}

/**
 * Make `deviceId` (or nobody) the space's sensor or display from `at`: the open history row of that role
 * is closed and a new one opened, and the space's FK is set (its DevEUI copy follows by trigger).
 */
export async function assignSpaceDevice(db: Tx, spaceId: string, role: 'sensor' | 'display', deviceId: string | null, at: Date): Promise<void> {
  await db.updateTable('parking_space_devices').set({ valid_to: at }).where('space_id', '=', spaceId).where('role', '=', role).where('valid_to', 'is', null).execute();
  if (deviceId) await db.insertInto('parking_space_devices').values({ space_id: spaceId, device_id: deviceId, role, valid_from: at }).execute();
  await db
    .updateTable('parking_spaces')
    .set(role === 'sensor' ? { sensor_device_id: deviceId, sensor_state: null, updated_at: at } : { display_device_id: deviceId, display_state: null, updated_at: at })
    .where('id', '=', spaceId)
    .execute();
}

export interface SpaceDeviceHistory {
  device_id: string;
  role: 'sensor' | 'display';
  dev_eui: string | null;
  valid_from: Date;
  valid_to: Date | null;
}

export async function spaceDeviceHistory(db: Executor, spaceId: string): Promise<SpaceDeviceHistory[]> {
  return db
    .selectFrom('parking_space_devices as h')
    .innerJoin('devices as d', 'd.id', 'h.device_id')
    .select(['h.device_id', 'h.role', 'd.dev_eui', 'h.valid_from', 'h.valid_to'])
    .where('h.space_id', '=', spaceId)
    .orderBy('h.valid_from', 'desc')
    .orderBy('h.id', 'desc')
    .execute();
}

// ---- Reservations ----

/** Open reservations of the space whose window shares an instant with [from, to). */
export async function overlappingReservations(db: Executor, spaceId: string, from: Date, to: Date): Promise<ParkingReservation[]> {
  return db
    .selectFrom('parking_reservations')
    .selectAll()
    .where('space_id', '=', spaceId)
    .where('status', 'in', ['scheduled', 'active'])
    .where('starts_at', '<', to)
    .where('ends_at', '>', from)
    .orderBy('starts_at')
    .execute();
}

export async function insertReservation(db: Executor, r: { space_id: string; starts_at: Date; ends_at: Date; reference: string; created_by: string }): Promise<ParkingReservation> {
  return db.insertInto('parking_reservations').values(r).returningAll().executeTakeFirstOrThrow();
}

export async function findReservationForUpdate(db: Tx, id: string): Promise<ParkingReservation | undefined> {
  return db.selectFrom('parking_reservations').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function setReservationStatus(db: Executor, id: string, status: ReservationStatus, at: Date, cancelReason?: string | null): Promise<ParkingReservation> {
  const stamp = status === 'active' ? { started_at: at } : status === 'ended' ? { ended_at: at } : status === 'cancelled' ? { cancelled_at: at, cancel_reason: cancelReason ?? null } : {};
  return db.updateTable('parking_reservations').set({ status, ...stamp }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function listReservations(db: Executor, spaceId: string, filter: Page & { status?: ReservationStatus | undefined }): Promise<Listed<ParkingReservation>> {
  let query = db.selectFrom('parking_reservations').where('space_id', '=', spaceId);
  if (filter.status) query = query.where('status', '=', filter.status);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('starts_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select(sql<number>`count(*)::integer`.as('total')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(count.total) };
}

/** The reservations whose window is open now, for these spaces. */
export async function activeReservations(db: Executor, spaceIds: readonly string[]): Promise<ParkingReservation[]> {
  if (!spaceIds.length) return [];
  return db.selectFrom('parking_reservations').selectAll().where('status', '=', 'active').where('space_id', 'in', spaceIds).execute();
}

/** Reservations the job acts on now: scheduled ones whose window has opened, open ones whose window has closed. */
export async function dueReservations(db: Executor, now: Date, limit: number): Promise<ParkingReservation[]> {
  return db
    .selectFrom('parking_reservations')
    .selectAll()
    .where((eb) => eb.or([eb.and([eb('status', '=', 'scheduled'), eb('starts_at', '<=', now)]), eb.and([eb('status', 'in', ['scheduled', 'active']), eb('ends_at', '<=', now)])]))
    .orderBy('starts_at')
    .limit(limit)
    .execute();
}

// ---- Display actuations ----

export interface DisplayActuationRow {
  space_id: string;
  device_id: string;
  dev_eui: string;
  payload_hex: string;
  f_port: number;
  confirmed: boolean;
  trigger: ActuationTrigger;
  trigger_source: string | null;
  previous_state: string | null;
  new_state: string;
  idempotency_key: string;
  expires_at: string;
  requested_by: string;
  reason: string | null;
}

/** A display command and its actuation audit row, in one statement. Returns the command's id. */
export async function insertDisplayActuation(db: Executor, row: DisplayActuationRow): Promise<string | undefined> {
  const result = await sql<{ id: string }>`
    WITH a AS (
      SELECT * FROM jsonb_to_record(${json(row)}) AS a(
        space_id uuid, device_id uuid, dev_eui text, payload_hex text, f_port integer, confirmed boolean, trigger text,
        trigger_source text, previous_state text, new_state text, idempotency_key text, expires_at timestamptz,
        requested_by text, reason text)
    ), cmd AS (
      INSERT INTO device_commands (device_id, device_eui, command_type, command_data, payload_hex, f_port, confirmed,
        priority, idempotency_key, expires_at, requested_by, reason)
      SELECT device_id, dev_eui, 'display', jsonb_build_object('spaceId', space_id, 'state', new_state, 'trigger', trigger),
             payload_hex, f_port, confirmed, 3, idempotency_key, expires_at, requested_by, COALESCE(reason, trigger)
      FROM a
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id
    ), _act AS (
      INSERT INTO actuations (space_id, command_id, trigger_type, trigger_source, previous_state, new_state,
        display_deveui, display_code, fport, confirmed)
      SELECT a.space_id, cmd.id, a.trigger, a.trigger_source, a.previous_state, a.new_state, a.dev_eui, a.payload_hex, a.f_port, a.confirmed
      FROM a, cmd
      RETURNING 1
    )
    SELECT id FROM cmd`.execute(db);
  return result.rows[0]?.id;
}

// ---- Reads ----

export async function listOccupancyEvents(db: Executor, spaceId: string, filter: Page & { from?: Date | undefined; to?: Date | undefined }): Promise<Listed<OccupancyEvent>> {
  let query = db.selectFrom('occupancy_events').where('space_id', '=', spaceId);
  if (filter.from) query = query.where('event_time', '>=', filter.from);
  if (filter.to) query = query.where('event_time', '<', filter.to);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('event_time', 'desc').orderBy('id', 'desc').limit(filter.limit).offset(filter.offset).execute(),
    query.select(sql<number>`count(*)::integer`.as('total')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(count.total) };
}

export async function listActuations(db: Executor, spaceId: string, filter: Page & { trigger?: ActuationTrigger | undefined; from?: Date | undefined; to?: Date | undefined }): Promise<Listed<Actuation>> {
  let query = db.selectFrom('actuations').where('space_id', '=', spaceId);
  if (filter.trigger) query = query.where('trigger_type', '=', filter.trigger);
  if (filter.from) query = query.where('created_at', '>=', filter.from);
  if (filter.to) query = query.where('created_at', '<', filter.to);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('created_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select(sql<number>`count(*)::integer`.as('total')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(count.total) };
}

export interface ZoneOccupancy {
  site_id: string | null;
  zone: string | null;
  spaces: number;
  free: number;
  occupied: number;
  reserved: number;
  maintenance: number;
}

/** Spaces per site and zone by their state now (retired spaces left out). */
export async function occupancyNow(db: Executor, filter: { siteId?: string | undefined; zone?: string | undefined }): Promise<ZoneOccupancy[]> {
  let query = db
    .selectFrom('parking_spaces')
    .select([
      'site_id',
      'zone',
      sql<number>`count(*)::integer`.as('spaces'),
      sql<number>`(count(*) FILTER (WHERE current_state = 'FREE'))::integer`.as('free'),
      sql<number>`(count(*) FILTER (WHERE current_state = 'OCCUPIED'))::integer`.as('occupied'),
      sql<number>`(count(*) FILTER (WHERE current_state = 'RESERVED'))::integer`.as('reserved'),
      sql<number>`(count(*) FILTER (WHERE current_state = 'MAINTENANCE'))::integer`.as('maintenance'),
    ])
    .where('retired_at', 'is', null);
  if (filter.siteId) query = query.where('site_id', '=', filter.siteId);
  if (filter.zone) query = query.where('zone', '=', filter.zone);
  return query.groupBy(['site_id', 'zone']).orderBy('site_id').orderBy('zone').execute();
}

export interface ZoneOccupancyAt {
  bucket: Date;
  site_id: string | null;
  zone: string | null;
  spaces: number;
  occupied: number;
}

/**
 * Occupancy over time: at the end of each interval in [from, to), per site and zone, how many spaces
 * (existing by then, not retired) their sensors last reported occupied.
 */
export async function occupancyOverTime(
  db: Executor,
  filter: { siteId?: string | undefined; zone?: string | undefined; from: Date; to: Date; intervalS: number },
): Promise<ZoneOccupancyAt[]> {
  const result = await sql<ZoneOccupancyAt>`
    WITH buckets AS (
      SELECT generate_series(CAST(${filter.from.toISOString()} AS timestamptz), CAST(${filter.to.toISOString()} AS timestamptz) - make_interval(secs => ${filter.intervalS}), make_interval(secs => ${filter.intervalS})) AS bucket
    ), spaces AS (
      SELECT id, site_id, zone, created_at, retired_at FROM parking_spaces
      WHERE (CAST(${filter.siteId ?? null} AS uuid) IS NULL OR site_id = CAST(${filter.siteId ?? null} AS uuid))
        AND (CAST(${filter.zone ?? null} AS text) IS NULL OR zone = CAST(${filter.zone ?? null} AS text))
    )
    SELECT b.bucket, s.site_id, s.zone, count(*)::integer AS spaces,
           (count(*) FILTER (WHERE last.occupied))::integer AS occupied
    FROM buckets b
    JOIN spaces s ON s.created_at < b.bucket + make_interval(secs => ${filter.intervalS})
                 AND (s.retired_at IS NULL OR s.retired_at >= b.bucket + make_interval(secs => ${filter.intervalS}))
    LEFT JOIN LATERAL (
      SELECT e.occupied FROM occupancy_events e
      WHERE e.space_id = s.id AND e.event_time < b.bucket + make_interval(secs => ${filter.intervalS})
      ORDER BY e.event_time DESC LIMIT 1
    ) last ON true
    GROUP BY b.bucket, s.site_id, s.zone
    ORDER BY b.bucket, s.site_id, s.zone`.execute(db);
  return result.rows;
}
