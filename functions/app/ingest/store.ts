// The ingestion path's SQL. A batch is written with a few statements, never one per row: each carries
// its rows as ONE JSON parameter expanded with jsonb_to_recordset (the RDS Data API has no array
// parameters). Data-modifying CTEs always run to completion, whether or not the final SELECT reads them.
// Every insert is idempotent (unique keys + ON CONFLICT), so a redelivered batch changes
// nothing, and the batch needs no transaction: a retry after a partial failure completes it.
import { sql } from 'kysely';
import type { Db } from '#store/db';

const json = (rows: unknown) => sql`CAST(${JSON.stringify(rows)} AS jsonb)`;

/** A registered device as ingestion needs it, with the meter and parking space it currently serves. */
export interface IngestDevice {
  id: string;
  dev_eui: string | null;
  meter_no: string | null;
  device_type: string;
  decoder: string;
  config: Record<string, unknown>;
  lifecycle: string;
  counter_offset: number;
  last_counter: number | null;
  last_counter_at: Date | null;
  meter_id: string | null;
  meter_no_of_meter: string | null;
  space_id: string | null;
  space_state: string | null;
  space_sensor_state: string | null;
  display_device_id: string | null;
  display_dev_eui: string | null;
  display_config: Record<string, unknown> | null;
}

/** One query for every device a batch mentions, by DevEUI (LoRaWAN) or meter number (ESP32). */
export async function loadDevices(db: Db, devEuis: string[], meterNos: string[]): Promise<IngestDevice[]> {
  if (devEuis.length === 0 && meterNos.length === 0) return [];
  const result = await sql<IngestDevice>`
    SELECT d.id, d.dev_eui, d.meter_no, d.device_type, d.decoder, d.config, d.lifecycle,
           d.counter_offset, d.last_counter, d.last_counter_at,
           md.meter_id, m.meter_no AS meter_no_of_meter,
           ps.id AS space_id, ps.current_state AS space_state, ps.sensor_state AS space_sensor_state,
           ps.display_device_id, disp.dev_eui AS display_dev_eui, disp.config AS display_config
    FROM devices d
    LEFT JOIN meter_devices md ON md.device_id = d.id AND md.valid_to IS NULL
    LEFT JOIN meters m ON m.id = md.meter_id
    LEFT JOIN parking_spaces ps ON ps.sensor_device_id = d.id
    LEFT JOIN devices disp ON disp.id = ps.display_device_id
    WHERE d.dev_eui IN (SELECT jsonb_array_elements_text(${json(devEuis)}))
       OR d.meter_no IN (SELECT jsonb_array_elements_text(${json(meterNos)}))`.execute(db);
  return result.rows;
}

export interface ReadingRow {
  meter_id: string;
  device_id: string;
  source_key: string;
  reading_value: number | null;
  reading_date: string;
  pulse_count: number | null;
  temperature: number | null;
  humidity: number | null;
  rssi: number | null;
  snr: number | null;
  battery_level: number | null;
  voltage: number | null;
  current: number | null;
  power: number | null;
  energy_import: number | null;
  energy_export: number | null;
  frequency: number | null;
  power_factor: number | null;
  f_cnt: number | null;
  extra: Record<string, unknown> | null;
  raw_payload: string | null;
}

export interface DeviceUpdateRow {
  id: string;
  last_seen_at: string;
  last_f_cnt: number | null;
  battery_level: number | null;
  margin: number | null;
  joined_at: string | null;
  counter_offset: number | null;
  last_counter: number | null;
  last_counter_at: string | null;
}

/**
 * Readings, the meters they update (last reading, online) and the devices seen, in one statement.
 * Only readings actually inserted (not duplicates) move a meter's last reading.
 */
export async function writeReadings(db: Db, readings: ReadingRow[], devices: DeviceUpdateRow[]): Promise<{ inserted: number }> {
  const result = await sql<{ inserted: number }>`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${json(readings)}) AS x(
        meter_id uuid, device_id uuid, source_key text, reading_value numeric, reading_date timestamptz,
        pulse_count bigint, temperature numeric, humidity numeric, rssi integer, snr numeric, battery_level numeric,
        voltage numeric, current numeric, power numeric, energy_import numeric, energy_export numeric,
        frequency numeric, power_factor numeric, f_cnt bigint, extra jsonb, raw_payload text)
    ), ins AS (
      INSERT INTO meter_readings (meter_id, device_id, source_key, reading_value, reading_date, reading_type, is_validated,
        pulse_count, temperature, humidity, rssi, snr, battery_level, voltage, current, power, energy_import,
        energy_export, frequency, power_factor, f_cnt, extra, raw_payload)
      SELECT meter_id, device_id, source_key, reading_value, reading_date, 'automatic', true,
        pulse_count, temperature, humidity, rssi, snr, battery_level, voltage, current, power, energy_import,
        energy_export, frequency, power_factor, f_cnt, extra, raw_payload
      FROM input
      ON CONFLICT DO NOTHING
      RETURNING meter_id, reading_value, reading_date
    ), latest AS (
      SELECT DISTINCT ON (meter_id) meter_id, reading_value, reading_date FROM ins ORDER BY meter_id, reading_date DESC
    ), meters_updated AS (
      UPDATE meters m
      SET last_reading = COALESCE(l.reading_value, m.last_reading),
          last_reading_date = l.reading_date,
          communication_status = 'online',
          updated_at = now()
      FROM latest l
      WHERE m.id = l.meter_id AND (m.last_reading_date IS NULL OR m.last_reading_date <= l.reading_date)
      RETURNING m.id
    ), dev AS (
      SELECT * FROM jsonb_to_recordset(${json(devices)}) AS d(
        id uuid, last_seen_at timestamptz, last_f_cnt bigint, battery_level numeric, margin integer, joined_at timestamptz,
        counter_offset bigint, last_counter bigint, last_counter_at timestamptz)
    ), devices_updated AS (
      UPDATE devices t
      SET last_seen_at = GREATEST(t.last_seen_at, d.last_seen_at),
          last_f_cnt = CASE WHEN t.last_seen_at IS NULL OR d.last_seen_at >= t.last_seen_at THEN COALESCE(d.last_f_cnt, t.last_f_cnt) ELSE t.last_f_cnt END,
          battery_level = COALESCE(d.battery_level, t.battery_level),
          margin = COALESCE(d.margin, t.margin),
          joined_at = COALESCE(d.joined_at, t.joined_at),
          counter_offset = COALESCE(d.counter_offset, t.counter_offset),
          last_counter = COALESCE(d.last_counter, t.last_counter),
          last_counter_at = COALESCE(d.last_counter_at, t.last_counter_at),
          updated_at = now()
      FROM dev d
      WHERE t.id = d.id
      RETURNING t.id
    )
    SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM meters_updated)::int AS meters,
           (SELECT count(*) FROM devices_updated)::int AS devices`.execute(db);
  return { inserted: Number(result.rows[0]?.inserted ?? 0) };
}

export interface ConsumptionRow {
  meter_id: string;
  device_id: string;
  source_key: string;
  /** Units consumed since the meter's previous report. */
  units: number;
  reading_date: string;
  extra: Record<string, unknown>;
  raw_payload: string;
}

/**
 * ESP32 consumption reports: each carries the units used since the last one, and the reading is the
 * meter's running total. The meters are locked first, in their own statement, so that the insert that
 * follows sees every report a concurrent batch committed meanwhile (READ COMMITTED takes a new snapshot
 * per statement): no report is counted twice and none is lost, whatever the order reports arrive in.
 * The meter's total always grows by the units of the reports newly stored.
 */
export async function writeConsumption(db: Db, rows: ConsumptionRow[]): Promise<{ inserted: number }> {
  return db.transaction().execute(async (trx) => {
    await sql`
      SELECT id FROM meters
      WHERE id IN (SELECT DISTINCT (x ->> 'meter_id')::uuid FROM jsonb_array_elements(${json(rows)}) AS x)
      ORDER BY id
      FOR UPDATE`.execute(trx);
    const result = await sql<{ inserted: number }>`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${json(rows)}) AS x(
          meter_id uuid, device_id uuid, source_key text, units numeric, reading_date timestamptz, extra jsonb, raw_payload text)
      ), fresh AS (
        SELECT DISTINCT ON (i.source_key) i.* FROM input i
        WHERE NOT EXISTS (SELECT 1 FROM meter_readings r WHERE r.source_key = i.source_key)
        ORDER BY i.source_key
      ), numbered AS (
        SELECT f.*, COALESCE(m.last_reading, 0) + sum(f.units) OVER (PARTITION BY f.meter_id ORDER BY f.reading_date, f.source_key) AS total
        FROM fresh f JOIN meters m ON m.id = f.meter_id
      ), ins AS (
        INSERT INTO meter_readings (meter_id, device_id, source_key, reading_value, reading_date, reading_type, is_validated, extra, raw_payload)
        SELECT meter_id, device_id, source_key, total, reading_date, 'automatic', true, extra, raw_payload FROM numbered
        ON CONFLICT DO NOTHING
        RETURNING meter_id, reading_value, reading_date
      ), totals AS (
        SELECT meter_id, max(reading_value) AS total, max(reading_date) AS latest, count(*) AS n FROM ins GROUP BY meter_id
      ), _meters AS (
        UPDATE meters m
        SET last_reading = t.total,
            last_reading_date = GREATEST(m.last_reading_date, t.latest),
            communication_status = 'online',
            updated_at = now()
        FROM totals t
        WHERE m.id = t.meter_id
        RETURNING m.id
      )
      SELECT COALESCE(sum(n), 0)::int AS inserted FROM totals`.execute(trx);
    return { inserted: Number(result.rows[0]?.inserted ?? 0) };
  });
}

export interface DeviceEventRow {
  device_id: string | null;
  dev_eui: string | null;
  event_type: string;
  event_time: string;
  level: string | null;
  code: string | null;
  description: string | null;
  details: Record<string, unknown> | null;
  source_key: string;
}

export interface QuarantineRow {
  source: string;
  topic: string;
  dev_eui: string | null;
  meter_no: string | null;
  reason_code: string;
  reason: string;
  payload: string;
  payload_encoding: 'utf8' | 'base64';
  dedup_key: string;
}

/** Network events and quarantined messages, in one statement; returns the newly quarantined keys. */
export async function writeEventsAndQuarantine(db: Db, events: DeviceEventRow[], quarantine: QuarantineRow[]): Promise<{ newQuarantine: string[] }> {
  const result = await sql<{ new_quarantine: string[] | string }>`
    WITH ev AS (
      SELECT * FROM jsonb_to_recordset(${json(events)}) AS e(
        device_id uuid, dev_eui text, event_type text, event_time timestamptz, level text, code text,
        description text, details jsonb, source_key text)
    ), ev_ins AS (
      INSERT INTO device_events (device_id, dev_eui, event_type, event_time, level, code, description, details, source_key)
      SELECT device_id, dev_eui, event_type, event_time, level, code, description, details, source_key FROM ev
      ON CONFLICT (source_key) DO NOTHING
      RETURNING 1
    ), q AS (
      SELECT * FROM jsonb_to_recordset(${json(quarantine)}) AS q(
        source text, topic text, dev_eui text, meter_no text, reason_code text, reason text, payload text,
        payload_encoding text, dedup_key text)
    ), q_ins AS (
      INSERT INTO quarantine (source, topic, dev_eui, meter_no, reason_code, reason, payload, payload_encoding, dedup_key, last_error_at)
      SELECT source, topic, dev_eui, meter_no, reason_code, reason, payload, payload_encoding, dedup_key, now() FROM q
      ON CONFLICT (dedup_key) DO UPDATE
        SET attempts = quarantine.attempts + 1, reason = EXCLUDED.reason, reason_code = EXCLUDED.reason_code,
            last_error_at = now(), status = 'new', resolved_at = NULL
      RETURNING dedup_key, (xmax = 0) AS inserted
    )
    SELECT (SELECT count(*) FROM ev_ins)::int AS events,
           (SELECT COALESCE(jsonb_agg(dedup_key) FILTER (WHERE inserted), '[]'::jsonb) FROM q_ins) AS new_quarantine`.execute(db);
  const raw = result.rows[0]?.new_quarantine ?? [];
  const keys: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
  return { newQuarantine: Array.isArray(keys) ? keys.map(String) : [] };
}

export interface OccupancyRow {
  space_id: string;
  device_id: string;
  occupied: boolean;
  previous_state: string | null;
  new_state: string;
  event_time: string;
  source_key: string;
  /** Set when the space's displayed state changes and it has a display with a code for the state. */
  display_device_id: string | null;
  display_dev_eui: string | null;
  payload_hex: string | null;
  fport: number | null;
  confirmed: boolean;
  expires_at: string;
}

/**
 * Occupancy changes: the event, the space's state, and for a changed displayed state a display command
 * with its actuation audit row. Only a newly recorded change queues a command, so a redelivered uplink
 * never actuates twice. Returns the ids of the commands created.
 */
export async function writeOccupancy(db: Db, rows: OccupancyRow[]): Promise<{ commandIds: string[] }> {
  const result = await sql<{ id: string }>`
    WITH o AS (
      SELECT * FROM jsonb_to_recordset(${json(rows)}) AS o(
        space_id uuid, device_id uuid, occupied boolean, previous_state text, new_state text, event_time timestamptz,
        source_key text, display_device_id uuid, display_dev_eui text, payload_hex text, fport integer,
        confirmed boolean, expires_at timestamptz)
    ), occ AS (
      INSERT INTO occupancy_events (space_id, device_id, occupied, previous_state, new_state, event_time, source_key)
      SELECT space_id, device_id, occupied, previous_state, new_state, event_time, source_key FROM o
      ON CONFLICT (source_key) DO NOTHING
      RETURNING space_id, occupied, new_state, event_time, source_key
    ), latest AS (
      SELECT DISTINCT ON (space_id) * FROM occ ORDER BY space_id, event_time DESC
    ), _spaces AS (
      UPDATE parking_spaces s
      SET sensor_state = CASE WHEN l.occupied THEN 'occupied' ELSE 'free' END,
          current_state = l.new_state,
          state_changed_at = l.event_time,
          updated_at = now()
      FROM latest l
      WHERE s.id = l.space_id AND (s.state_changed_at IS NULL OR s.state_changed_at <= l.event_time)
      RETURNING s.id
    ), cmd AS (
      INSERT INTO device_commands (device_id, device_eui, command_type, command_data, payload_hex, f_port, confirmed,
        priority, idempotency_key, expires_at, requested_by, reason, created_at)
      SELECT o.display_device_id, o.display_dev_eui, 'display',
             jsonb_build_object('spaceId', o.space_id, 'state', o.new_state, 'trigger', 'sensor_uplink'),
             o.payload_hex, o.fport, o.confirmed, 3, 'display:' || o.source_key, o.expires_at, 'system:parking', 'sensor_uplink',
             -- A display's commands go out oldest first: created_at follows the sensor's time, so two changes
             -- of one space in one batch (occupied, then free) are sent in the order they happened.
             LEAST(o.event_time, now())
      FROM o JOIN occ ON occ.source_key = o.source_key
      WHERE o.display_device_id IS NOT NULL AND o.payload_hex IS NOT NULL
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id, idempotency_key
    ), _act AS (
      INSERT INTO actuations (space_id, command_id, trigger_type, trigger_source, previous_state, new_state,
        display_deveui, display_code, fport, confirmed)
      SELECT o.space_id, cmd.id, 'sensor_uplink', o.source_key, o.previous_state, o.new_state,
             o.display_dev_eui, o.payload_hex, o.fport, o.confirmed
      FROM cmd JOIN o ON cmd.idempotency_key = 'display:' || o.source_key
      RETURNING 1
    )
    SELECT id FROM cmd`.execute(db);
  return { commandIds: result.rows.map((r) => r.id) };
}
