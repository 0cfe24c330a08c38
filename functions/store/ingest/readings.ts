// Readings, written set-based: LoRaWAN readings with the meters and devices they update in one
// statement, and ESP32 consumption reports as running totals under the meter's row lock. Each batch
// travels as ONE jsonb parameter expanded with jsonb_to_recordset (the RDS Data API has no array
// parameters); data-modifying CTEs always run to completion, whether or not the final SELECT reads them.
// Every insert is idempotent (unique keys + ON CONFLICT), so a redelivered batch changes nothing, and a
// batch needs no transaction around its statements: a retry after a partial failure completes it.
import { sql } from 'kysely';
import { json, type Db, type Executor } from '#store/db';

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
export async function writeReadings(db: Executor, readings: ReadingRow[], devices: DeviceUpdateRow[]): Promise<{ inserted: number }> {
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
 *
 * Takes the database, not an executor: the lock must be held in a transaction of its own. Errors are
 * not mapped (no inTransaction), so the caller still sees the SQLSTATE of a refused value and can isolate
 * the message that carried it.
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

