// Readings, written set-based: LoRaWAN readings with the meters and devices they update in one
// statement (pulse counters under their devices' row locks), and ESP32 consumption reports as running
// totals under the meter's row lock. Each batch travels as ONE jsonb parameter expanded with
// jsonb_to_recordset (the RDS Data API has no array parameters); data-modifying CTEs always run to
// completion, whether or not the final SELECT reads them. Every insert is idempotent (unique keys + ON
// CONFLICT), so a redelivered batch changes nothing, and a batch needs no transaction around its
// statements: a retry after a partial failure completes it.
//
// Series order. A device's readings are ordered by reading_date (ChirpStack's `time`, or the ESP32
// meter's timestamp, never far ahead of the receive time: see domain/clock.ts), then fCnt, then
// source_key. reading_date leads rather than fCnt because fCnt restarts at 0 when a device rejoins: the
// network's time is what orders two sessions; within a session the two agree, and fCnt breaks ties.
// A time the ingest corrected (dated too far ahead, domain/clock.ts) says nothing about the reading's
// place, so the reading is placed by the device's own sequence instead: a LoRaWAN reading at the time of
// its fCnt predecessor (it then sorts right after it), an ESP32 report just after the meter's report that
// arrived before it (one connection, in order). Without a predecessor it keeps the receive time.
import { sql } from 'kysely';
import { COUNTER_WRAP, WRAP_FROM, WRAP_TO } from '#domain/counter';
import { json, type Db, type Executor } from '#store/db';

export interface ReadingRow {
  meter_id: string;
  /** null for a meter no device serves (a reading posted over HTTP for the meter itself). */
  device_id: string | null;
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
  /** A pulse-counter reading: reading_value is computed here from pulse_count and the device's series. */
  counter: boolean;
  /** For a counter reading, the device's pulsesPerUnit (null when not usable: the value stays null). */
  pulses_per_unit: number | null;
}

export interface DeviceUpdateRow {
  id: string;
  last_seen_at: string;
  last_f_cnt: number | null;
  battery_level: number | null;
  margin: number | null;
  joined_at: string | null;
}

/** How far below a corrected reading's fCnt its predecessor is looked for (uplinks lost in between). */
const PLACEMENT_FCNT_WINDOW = 1000;

/** Attempts of writeReadings when concurrent batches keep changing the same counter devices. */
const MAX_ATTEMPTS = 20;

/**
 * Readings, the meters they update (last reading, online) and the devices seen, in one statement.
 * Only readings actually inserted (not duplicates), and stored readings whose value a late one corrected,
 * move a meter's last reading.
 *
 * Pulse counters. A reading's value is (offset + count) / pulsesPerUnit, where the offset grows at each
 * drop of the count between two neighbours in the device's order (domain/counter.ts counterIncrement:
 * the previous count on a reset, 2^32 on a wrap). The statement recomputes each counter device's series
 * from the earliest new reading on, starting from the stored reading before it (its offset and count):
 * a late uplink takes the offset of its place, and a reset or wrap it reveals is recognised from its
 * neighbours.
 *
 * When a late uplink changes the offset of readings already stored after it (it revealed a reset between
 * them), those readings are corrected in the same statement. They only ever go up (inserting a count
 * between two neighbours never lowers the consumption counted between them), so the stored series has
 * no downward step and a meter's total never goes down; fitting the late reading between its neighbours
 * without touching them would instead lose the consumption it revealed for good, or step down.
 * The readings after a late one are read and, where their offset changes, rewritten: an uplink days late
 * (a quarantined one reprocessed) costs one pass over the device's readings since its time.
 *
 * Concurrency without a transaction (the Data API path counts its calls): the statement locks every
 * device of the batch in id order (FOR UPDATE, waiting for a concurrent batch holding one to commit),
 * then compares each counter device's row version (xmin) under the lock with the one in its snapshot.
 * A concurrent batch that committed meanwhile changed the row (every batch updates its devices), so the
 * snapshot misses its readings: the statement then writes nothing and runs again, with a new snapshot.
 */
export async function writeReadings(db: Executor, readings: ReadingRow[], devices: DeviceUpdateRow[]): Promise<{ inserted: number }> {
  for (let attempt = 1; ; attempt++) {
    const result = await writeReadingsOnce(db, readings, devices);
    if (result.ok) return { inserted: result.inserted };
    if (attempt >= MAX_ATTEMPTS) throw new Error(`readings not written: their devices' counters changed under ${attempt} concurrent writes in a row`);
  }
}

async function writeReadingsOnce(db: Executor, readings: ReadingRow[], devices: DeviceUpdateRow[]): Promise<{ inserted: number; ok: boolean }> {
  const order = sql`reading_date, f_cnt NULLS FIRST, source_key`;
  const result = await sql<{ inserted: number; ok: boolean }>`
    WITH raw AS (
      SELECT * FROM jsonb_to_recordset(${json(readings)}) AS x(
        meter_id uuid, device_id uuid, source_key text, reading_value numeric, reading_date timestamptz,
        pulse_count bigint, temperature numeric, humidity numeric, rssi integer, snr numeric, battery_level numeric,
        voltage numeric, current numeric, power numeric, energy_import numeric, energy_export numeric,
        frequency numeric, power_factor numeric, f_cnt bigint, extra jsonb, raw_payload text,
        counter boolean, pulses_per_unit numeric)
    ), input AS (
      -- A reading whose time was corrected (extra.clock) is placed by fCnt: at the time of the device's
      -- latest reading of a lower fCnt of this session (stored or in the batch), so it sorts right after it.
      SELECT x.meter_id, x.device_id, x.source_key, x.reading_value, COALESCE(p.at, x.reading_date) AS reading_date,
        x.pulse_count, x.temperature, x.humidity, x.rssi, x.snr, x.battery_level, x.voltage, x.current, x.power,
        x.energy_import, x.energy_export, x.frequency, x.power_factor, x.f_cnt,
        CASE WHEN p.at IS NULL THEN x.extra ELSE jsonb_set(x.extra, '{clock,correctedTo}', to_jsonb(p.at)) || '{"clockPlacedBy":"fCnt"}'::jsonb END AS extra,
        x.raw_payload, x.counter, x.pulses_per_unit
      FROM raw x
      LEFT JOIN LATERAL (
        SELECT max(c.at) AS at FROM (
          SELECT s.reading_date AS at FROM meter_readings s
          WHERE x.extra ? 'clock' AND s.device_id = x.device_id AND s.f_cnt < x.f_cnt AND s.f_cnt >= x.f_cnt - ${sql.lit(PLACEMENT_FCNT_WINDOW)}
            AND s.reading_date <= x.reading_date
            AND s.reading_date >= COALESCE((SELECT d.joined_at FROM devices d WHERE d.id = x.device_id), '-infinity'::timestamptz)
          UNION ALL
          SELECT y.reading_date FROM raw y
          WHERE x.extra ? 'clock' AND y.device_id = x.device_id AND y.f_cnt < x.f_cnt AND y.f_cnt >= x.f_cnt - ${sql.lit(PLACEMENT_FCNT_WINDOW)}
            AND y.reading_date <= x.reading_date AND NOT (y.extra ? 'clock')) c
      ) p ON true
    ), dev AS (
      SELECT * FROM jsonb_to_recordset(${json(devices)}) AS d(
        id uuid, last_seen_at timestamptz, last_f_cnt bigint, battery_level numeric, margin integer, joined_at timestamptz)
    ), counter_devices AS (
      SELECT DISTINCT device_id AS id FROM input WHERE counter AND pulse_count IS NOT NULL
    ), locked AS (
      SELECT t.id, t.xmin::text AS version FROM devices t
      WHERE t.id IN (SELECT id FROM dev UNION SELECT id FROM counter_devices)
      ORDER BY t.id
      FOR UPDATE
    ), seen AS (
      SELECT t.id, t.xmin::text AS version FROM devices t WHERE t.id IN (SELECT id FROM counter_devices)
    ), go AS (
      SELECT (SELECT count(*) FROM locked) >= 0
         AND NOT EXISTS (SELECT 1 FROM seen s JOIN locked l ON l.id = s.id WHERE l.version <> s.version) AS ok
    ), uniq AS (
      SELECT DISTINCT ON (i.source_key) i.* FROM input i
      WHERE NOT EXISTS (SELECT 1 FROM meter_readings r WHERE r.source_key = i.source_key)
        AND NOT EXISTS (SELECT 1 FROM meter_readings r WHERE r.device_id = i.device_id AND r.f_cnt = i.f_cnt AND r.reading_date = i.reading_date)
        -- The same corrected uplink redelivered under a new deduplicationId: same fCnt, same reported time.
        AND NOT EXISTS (SELECT 1 FROM meter_readings r WHERE i.extra ? 'clock' AND r.device_id = i.device_id AND r.f_cnt = i.f_cnt
                          AND r.extra -> 'clock' ->> 'reportedTime' = i.extra -> 'clock' ->> 'reportedTime')
      ORDER BY i.source_key
    ), fresh AS (
      SELECT DISTINCT ON (u.device_id, COALESCE(u.f_cnt::text, u.source_key), u.reading_date) u.* FROM uniq u
      ORDER BY u.device_id, COALESCE(u.f_cnt::text, u.source_key), u.reading_date, u.source_key
    ), since AS (
      SELECT device_id, min(reading_date) AS since, max(pulses_per_unit) AS per_unit
      FROM fresh WHERE counter AND pulse_count IS NOT NULL GROUP BY device_id
    ), anchor AS MATERIALIZED (
      SELECT s.device_id, a.pulse_count, a.counter_offset FROM since s
      CROSS JOIN LATERAL (
        SELECT r.pulse_count, r.counter_offset FROM meter_readings r
        WHERE r.device_id = s.device_id AND r.pulse_count IS NOT NULL AND r.reading_date < s.since
        ORDER BY r.reading_date DESC, r.f_cnt DESC NULLS LAST, r.source_key DESC
        LIMIT 1) a
    ), series AS (
      SELECT r.id, r.device_id, r.source_key, r.reading_date, r.f_cnt, r.pulse_count, r.counter_offset AS old_offset
      FROM since s JOIN meter_readings r ON r.device_id = s.device_id AND r.pulse_count IS NOT NULL AND r.reading_date >= s.since
      UNION ALL
      SELECT NULL::bigint, f.device_id, f.source_key, f.reading_date, f.f_cnt, f.pulse_count, NULL::bigint
      FROM fresh f WHERE f.counter AND f.pulse_count IS NOT NULL
    ), numbered AS (
      SELECT x.*, row_number() OVER (PARTITION BY x.device_id ORDER BY ${order}) AS n,
             lag(x.pulse_count) OVER (PARTITION BY x.device_id ORDER BY ${order}) AS lag_count
      FROM series x
    ), increments AS (
      SELECT x.*, s.per_unit, COALESCE(a.counter_offset, 0) AS base_offset,
             CASE WHEN p.prev IS NULL OR x.pulse_count >= p.prev THEN 0
                  WHEN p.prev >= ${sql.lit(WRAP_FROM)} AND x.pulse_count < ${sql.lit(WRAP_TO)} THEN ${sql.lit(COUNTER_WRAP)}
                  ELSE p.prev END AS inc
      FROM numbered x
      JOIN since s ON s.device_id = x.device_id
      LEFT JOIN anchor a ON a.device_id = x.device_id
      CROSS JOIN LATERAL (SELECT CASE WHEN x.n = 1 THEN a.pulse_count ELSE x.lag_count END AS prev) p
    ), offsets AS (
      SELECT i.*, (i.base_offset + sum(i.inc) OVER (PARTITION BY i.device_id ORDER BY i.n))::bigint AS new_offset FROM increments i
    ), valued AS (
      -- A reading where the count dropped says so in extra.counterDiscontinuity (reset or wrap).
      SELECT o.*, CASE WHEN o.per_unit > 0 THEN (o.new_offset + o.pulse_count) / o.per_unit END AS new_value,
             CASE WHEN o.inc = 0 THEN NULL WHEN o.inc = ${sql.lit(COUNTER_WRAP)} THEN 'wrap' ELSE 'reset' END AS discontinuity
      FROM offsets o
    ), ins AS (
      INSERT INTO meter_readings (meter_id, device_id, source_key, reading_value, reading_date, reading_type, is_validated,
        pulse_count, temperature, humidity, rssi, snr, battery_level, voltage, current, power, energy_import,
        energy_export, frequency, power_factor, f_cnt, extra, raw_payload, counter_offset)
      SELECT f.meter_id, f.device_id, f.source_key, CASE WHEN v.source_key IS NULL THEN f.reading_value ELSE v.new_value END,
        f.reading_date, 'automatic', true,
        f.pulse_count, f.temperature, f.humidity, f.rssi, f.snr, f.battery_level, f.voltage, f.current, f.power, f.energy_import,
        f.energy_export, f.frequency, f.power_factor, f.f_cnt,
        CASE WHEN v.discontinuity IS NULL THEN f.extra ELSE COALESCE(f.extra, '{}'::jsonb) || jsonb_build_object('counterDiscontinuity', v.discontinuity) END,
        f.raw_payload, v.new_offset
      FROM fresh f LEFT JOIN valued v ON v.id IS NULL AND v.source_key = f.source_key
      WHERE (SELECT ok FROM go)
      ON CONFLICT DO NOTHING
      RETURNING meter_id, reading_value, reading_date
    ), corrected AS (
      UPDATE meter_readings r
      SET reading_value = v.new_value, counter_offset = v.new_offset,
          extra = CASE WHEN v.discontinuity IS NULL THEN r.extra - 'counterDiscontinuity'
                       ELSE COALESCE(r.extra, '{}'::jsonb) || jsonb_build_object('counterDiscontinuity', v.discontinuity) END
      FROM valued v
      WHERE v.id IS NOT NULL AND r.id = v.id AND (SELECT ok FROM go)
        AND (v.new_offset IS DISTINCT FROM v.old_offset OR v.discontinuity IS DISTINCT FROM r.extra ->> 'counterDiscontinuity')
      RETURNING r.meter_id, r.reading_value, r.reading_date
    ), latest AS (
      SELECT DISTINCT ON (meter_id) meter_id, reading_value, reading_date
      FROM (SELECT * FROM ins UNION ALL SELECT * FROM corrected) c
      ORDER BY meter_id, reading_date DESC, reading_value DESC NULLS LAST
    ), meters_updated AS (
      UPDATE meters m
      SET last_reading = COALESCE(l.reading_value, m.last_reading),
          last_reading_date = l.reading_date,
          communication_status = 'online',
          updated_at = now()
      FROM latest l
      WHERE m.id = l.meter_id AND (m.last_reading_date IS NULL OR m.last_reading_date <= l.reading_date)
      RETURNING m.id
    ), counter_state AS (
      SELECT DISTINCT ON (device_id) device_id, new_offset, pulse_count, reading_date FROM offsets
      ORDER BY device_id, reading_date DESC, f_cnt DESC NULLS LAST, source_key DESC
    ), devices_updated AS (
      UPDATE devices t
      SET last_seen_at = GREATEST(t.last_seen_at, d.last_seen_at),
          last_f_cnt = CASE WHEN t.last_seen_at IS NULL OR d.last_seen_at >= t.last_seen_at THEN COALESCE(d.last_f_cnt, t.last_f_cnt) ELSE t.last_f_cnt END,
          battery_level = COALESCE(d.battery_level, t.battery_level),
          margin = COALESCE(d.margin, t.margin),
          joined_at = COALESCE(d.joined_at, t.joined_at),
          counter_offset = COALESCE(c.new_offset, t.counter_offset),
          last_counter = COALESCE(c.pulse_count, t.last_counter),
          last_counter_at = COALESCE(c.reading_date, t.last_counter_at),
          updated_at = now()
      FROM dev d LEFT JOIN counter_state c ON c.device_id = d.id
      WHERE t.id = d.id AND (SELECT ok FROM go)
      RETURNING t.id
    )
    SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT ok FROM go) AS ok,
           (SELECT count(*) FROM meters_updated)::int AS meters, (SELECT count(*) FROM devices_updated)::int AS devices`.execute(db);
  const row = result.rows[0];
  return { inserted: Number(row?.inserted ?? 0), ok: row?.ok !== false };
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
 * meter's running total in the order of the meter's own timestamps (then source_key), not of arrival.
 * The meters are locked first, in their own statement, so that the statement that follows sees every
 * report a concurrent batch committed meanwhile (READ COMMITTED takes a new snapshot per statement): no
 * report is counted twice and none is lost, whatever the order reports arrive in.
 *
 * The series is recomputed from the earliest new report on: it starts from the meter's stored report
 * before it (its total), and every stored report after it is raised by the units of the late ones that
 * precede it, so the stored series has no downward step and the meter's total always grows by the units
 * of the reports newly stored. Without an earlier report the series starts where the first stored one
 * did (its total less its units), or from the meter's last reading.
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
      WITH raw AS (
        SELECT * FROM jsonb_to_recordset(${json(rows.map((r, seq) => ({ ...r, seq })))}) AS x(
          meter_id uuid, device_id uuid, source_key text, units numeric, reading_date timestamptz, extra jsonb, raw_payload text, seq integer)
      ), input AS (
        -- A report whose time was corrected (extra.clock) goes 1 ms after the meter's report that came before it.
        SELECT x.meter_id, x.device_id, x.source_key, x.units,
          COALESCE(p.at + interval '1 millisecond', x.reading_date) AS reading_date,
          CASE WHEN p.at IS NULL THEN x.extra
               ELSE jsonb_set(x.extra, '{clock,correctedTo}', to_jsonb(p.at + interval '1 millisecond')) || '{"clockPlacedBy":"arrival"}'::jsonb END AS extra,
          x.raw_payload
        FROM raw x
        LEFT JOIN LATERAL (
          SELECT max(c.at) AS at FROM (
            SELECT s.reading_date AS at FROM meter_readings s
            WHERE x.extra ? 'clock' AND s.meter_id = x.meter_id AND s.source_key LIKE 'esp32:%' AND s.reading_date < x.reading_date
            UNION ALL
            SELECT y.reading_date FROM raw y
            WHERE x.extra ? 'clock' AND y.meter_id = x.meter_id AND y.seq < x.seq AND y.reading_date < x.reading_date AND NOT (y.extra ? 'clock')) c
        ) p ON true
      ), fresh AS (
        SELECT DISTINCT ON (i.source_key) i.* FROM input i
        WHERE NOT EXISTS (SELECT 1 FROM meter_readings r WHERE r.source_key = i.source_key)
        ORDER BY i.source_key
      ), since AS (
        SELECT meter_id, min(reading_date) AS since FROM fresh GROUP BY meter_id
      ), stored AS (
        SELECT r.id, r.meter_id, r.source_key, r.reading_date, COALESCE((r.extra ->> 'unitsConsumed')::numeric, 0) AS units,
               r.reading_value AS old_value
        FROM since s JOIN meter_readings r ON r.meter_id = s.meter_id AND r.source_key LIKE 'esp32:%' AND r.reading_date >= s.since
      ), anchor AS MATERIALIZED (
        SELECT s.meter_id, a.reading_value FROM since s
        CROSS JOIN LATERAL (
          SELECT r.reading_value FROM meter_readings r
          WHERE r.meter_id = s.meter_id AND r.source_key LIKE 'esp32:%' AND r.reading_date < s.since
          ORDER BY r.reading_date DESC, r.source_key DESC
          LIMIT 1) a
      ), first_stored AS (
        SELECT DISTINCT ON (meter_id) meter_id, old_value - units AS base FROM stored ORDER BY meter_id, reading_date, source_key
      ), series AS (
        SELECT id, meter_id, source_key, reading_date, units, old_value FROM stored
        UNION ALL
        SELECT NULL::bigint, meter_id, source_key, reading_date, units, NULL::numeric FROM fresh
      ), numbered AS (
        SELECT x.*, COALESCE(a.reading_value, fs.base, m.last_reading, 0)
                    + sum(x.units) OVER (PARTITION BY x.meter_id ORDER BY x.reading_date, x.source_key) AS total
        FROM series x
        JOIN meters m ON m.id = x.meter_id
        LEFT JOIN anchor a ON a.meter_id = x.meter_id
        LEFT JOIN first_stored fs ON fs.meter_id = x.meter_id
      ), ins AS (
        INSERT INTO meter_readings (meter_id, device_id, source_key, reading_value, reading_date, reading_type, is_validated, extra, raw_payload)
        SELECT f.meter_id, f.device_id, f.source_key, n.total, f.reading_date, 'automatic', true, f.extra, f.raw_payload
        FROM fresh f JOIN numbered n ON n.id IS NULL AND n.source_key = f.source_key
        ON CONFLICT DO NOTHING
        RETURNING meter_id, reading_value, reading_date
      ), corrected AS (
        UPDATE meter_readings r SET reading_value = n.total
        FROM numbered n
        WHERE n.id IS NOT NULL AND r.id = n.id AND n.total IS DISTINCT FROM n.old_value
        RETURNING r.meter_id
      ), totals AS (
        SELECT meter_id, max(total) AS total, max(reading_date) AS latest FROM numbered GROUP BY meter_id
      ), _meters AS (
        UPDATE meters m
        SET last_reading = GREATEST(m.last_reading, t.total),
            last_reading_date = GREATEST(m.last_reading_date, t.latest),
            communication_status = 'online',
            updated_at = now()
        FROM totals t
        WHERE m.id = t.meter_id AND EXISTS (SELECT 1 FROM ins WHERE ins.meter_id = t.meter_id)
        RETURNING m.id
      )
      SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM corrected)::int AS corrected`.execute(trx);
    return { inserted: Number(result.rows[0]?.inserted ?? 0) };
  });
}
