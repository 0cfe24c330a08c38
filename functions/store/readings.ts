// Readings as the HTTP API reads and posts them (the seed's POST/GET /readings) and a meter's history:
// resolving posted meter references (our id or a meter number) in one statement, the readings of all
// meters or one, consumption per hour/day/month from the differences of the cumulative value, and
// min/avg/max of an instantaneous field per interval, read from the quarter-hour rollups where the window
// allows (schema/0019_readings_rollups.sql: a trigger keeps them), and the raw readings' retention.
// Writes go through ingest/readings.ts (writeReadings).
import { sql } from 'kysely';
import { json, type Executor } from '#store/db';
import { mapDbError } from '#store/errors';
import { writeEventsAndQuarantine, type QuarantineRow } from '#store/ingest/events';
import { writeReadings, type DeviceUpdateRow, type ReadingRow } from '#store/ingest/readings';
import type { MeterReading } from '#store/schema';
import { quarantinePerSourceHour } from '#domain/device-access';

export type { DeviceUpdateRow, QuarantineRow, ReadingRow };

export interface ResolvedMeter {
  ref: string;
  meter_id: string;
  meter_no: string;
  device_id: string | null;
  timezone: string;
}

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/**
 * The meters a list of references names (our id, any case, or a meter number), with their current device.
 * The same rule as registry's findMeterByRef: a reference that is a meter's id names that meter, else the
 * meter with that number (a meter number may itself look like a UUID).
 */
export async function resolveMeterRefs(db: Executor, refs: string[]): Promise<ResolvedMeter[]> {
  if (refs.length === 0) return [];
  try {
    const result = await sql<ResolvedMeter>`
      WITH refs AS (SELECT DISTINCT r AS ref FROM jsonb_array_elements_text(${json(refs)}) AS r),
      found AS (
        SELECT refs.ref, m.id, m.meter_no, m.site_id FROM refs JOIN meters m ON m.meter_no = refs.ref
        UNION
        SELECT refs.ref, m.id, m.meter_no, m.site_id FROM refs JOIN meters m ON m.id = CASE WHEN refs.ref ~ ${UUID} THEN lower(refs.ref)::uuid END
      )
      SELECT DISTINCT ON (f.ref) f.ref, f.id AS meter_id, f.meter_no, c.device_id, COALESCE(s.timezone, 'UTC') AS timezone
      FROM found f
      LEFT JOIN meter_current_device c ON c.meter_id = f.id
      LEFT JOIN sites s ON s.id = f.site_id
      ORDER BY f.ref, (f.id::text = lower(f.ref)) DESC`.execute(db);
    return result.rows;
  } catch (error) {
    throw mapDbError(error, 'meters');
  }
}

/**
 * Posted readings (set-based, the ingest path's writeReadings: meters' last reading and online status,
 * devices' last-seen move with them) and the quarantined ones. Both are idempotent, so no transaction:
 * a retry after a partial failure completes the batch.
 */
export async function writePostedReadings(db: Executor, rows: ReadingRow[], devices: DeviceUpdateRow[], quarantine: QuarantineRow[]): Promise<{ inserted: number }> {
  try {
    const inserted = rows.length ? (await writeReadings(db, rows, devices)).inserted : 0;
    if (quarantine.length) await writeEventsAndQuarantine(db, [], quarantine, quarantinePerSourceHour);
    return { inserted };
  } catch (error) {
    throw mapDbError(error, 'readings');
  }
}

export interface AllReadingsFilter {
  meterId?: string;
  from?: Date;
  to?: Date;
  limit: number;
}

export type ReadingWithMeterNo = MeterReading & { meter_no: string };

/** Readings of every meter (or one), newest first, in [from, to). */
export async function listAllReadings(db: Executor, filter: AllReadingsFilter): Promise<ReadingWithMeterNo[]> {
  let query = db.selectFrom('meter_readings as r').innerJoin('meters as m', 'm.id', 'r.meter_id').selectAll('r').select('m.meter_no');
  if (filter.meterId) query = query.where('r.meter_id', '=', filter.meterId);
  if (filter.from) query = query.where('r.reading_date', '>=', filter.from);
  if (filter.to) query = query.where('r.reading_date', '<', filter.to);
  try {
    return await query.orderBy('r.reading_date', 'desc').orderBy('r.id', 'desc').limit(filter.limit).execute();
  } catch (error) {
    throw mapDbError(error, 'readings query');
  }
}

/**
 * One meter's readings, newest first, with the meter found by the same rule as resolveMeterRefs (its id
 * first, then its number) in the same statement: one round trip for GET /readings/{meter} (issue 12's
 * latest-100 target). Undefined when no meter answers to the reference.
 */
export async function listMeterReadingsByRef(
  db: Executor,
  ref: string,
  filter: { from?: Date | undefined; to?: Date | undefined; limit: number },
): Promise<{ meterId: string; rows: ReadingWithMeterNo[] } | undefined> {
  try {
    const { rows } = await sql<ReadingWithMeterNo & { resolved_meter_id: string }>`
      WITH m AS (
        SELECT id, meter_no FROM (
          SELECT id, meter_no, 0 AS rank FROM meters WHERE id = CASE WHEN CAST(${ref} AS text) ~ ${UUID} THEN lower(CAST(${ref} AS text))::uuid END
          UNION ALL
          SELECT id, meter_no, 1 AS rank FROM meters WHERE meter_no = CAST(${ref} AS text)
        ) c ORDER BY rank LIMIT 1
      )
      SELECT m.id AS resolved_meter_id, r.*, m.meter_no
      FROM m LEFT JOIN LATERAL (
        SELECT * FROM meter_readings x
        WHERE x.meter_id = m.id
          AND x.reading_date >= COALESCE(${filter.from ?? null}::timestamptz, '-infinity')
          AND x.reading_date < COALESCE(${filter.to ?? null}::timestamptz, 'infinity')
        ORDER BY x.reading_date DESC, x.id DESC
        LIMIT ${filter.limit}
      ) r ON true`.execute(db);
    const first = rows[0];
    if (!first) return undefined;
    return { meterId: first.resolved_meter_id, rows: first.id == null ? [] : rows.map(({ resolved_meter_id: _, ...r }) => r as ReadingWithMeterNo) };
  } catch (error) {
    throw mapDbError(error, 'readings query');
  }
}

export type HistoryInterval = 'hour' | 'day' | 'month';

export interface ConsumptionBucket {
  start: Date;
  end: Date;
  readings: number;
  /** Sum of the increases of the cumulative value whose later reading falls in the bucket; null: no difference to take. */
  consumption: number | null;
  /** Drops of the cumulative value (a counter reset or meter swap): counted from zero. */
  resets: number;
  firstValue: number | null;
  lastValue: number | null;
}

export interface HistoryWindow {
  meterId: string;
  interval: HistoryInterval;
  from: Date;
  to: Date;
  timezone: string;
}

const unitOf = (interval: HistoryInterval) => sql.lit(interval);
const stepOf = (interval: HistoryInterval) => sql.lit(`1 ${interval}`);

/** The rollups' grain (schema/0019_readings_rollups.sql): a quarter of an hour on the UTC grid. */
export const ROLLUP_MS = 15 * 60_000;

/** The window's intervals as local wall-clock starts in its time zone (the buckets both histories join). */
const bucketSeries = (w: HistoryWindow, unit: ReturnType<typeof unitOf>, step: ReturnType<typeof stepOf>) => sql`
        SELECT generate_series(
          date_trunc(${unit}, ${w.from}::timestamptz AT TIME ZONE ${w.timezone}),
          (${w.to}::timestamptz AT TIME ZONE ${w.timezone}) - interval '1 microsecond',
          ${step}::interval) AS bucket`;
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * Where a window is read from: the quarter-hour rollups for the whole quarters inside it ([q1, q2)) and
 * the raw readings for the part quarters at its edges, or the raw readings alone (`rollups: false`) when
 * the window holds no whole quarter or one of its interval boundaries in its time zone falls inside a
 * quarter (a zone offset that is not a multiple of 15 minutes: historical local mean times only).
 */
export interface WindowPlan {
  rollups: boolean;
  q1: Date;
  q2: Date;
}

export async function planWindow(db: Executor, w: HistoryWindow): Promise<WindowPlan> {
  const q1 = new Date(Math.ceil(w.from.getTime() / ROLLUP_MS) * ROLLUP_MS);
  const q2 = new Date(Math.floor(w.to.getTime() / ROLLUP_MS) * ROLLUP_MS);
  if (q1 >= q2) return { rollups: false, q1, q2 };
  const unit = unitOf(w.interval);
  const step = stepOf(w.interval);
  try {
    const result = await sql<{ aligned: boolean | null }>`
      SELECT bool_and(extract(epoch FROM b.at)::numeric % ${ROLLUP_MS / 1000} = 0) AS aligned
      FROM (SELECT (bucket + ${step}::interval) AT TIME ZONE ${w.timezone} AS at FROM (${bucketSeries(w, unit, step)}) s) b
      WHERE b.at > ${w.from}::timestamptz AND b.at < ${w.to}::timestamptz`.execute(db);
    return { rollups: result.rows[0]?.aligned !== false, q1, q2 };
  } catch (error) {
    throw mapDbError(error, 'history query');
  }
}

/**
 * The window's part quarters read from raw readings, each its own range (so each is a range scan of
 * (meter_id, reading_date), not a scan of every meter's readings in that time); empty ones left out.
 */
const edgesOf = (w: HistoryWindow, p: WindowPlan): [Date, Date][] =>
  ([[w.from, p.q1], [p.q2, w.to]] as [Date, Date][]).filter(([lo, hi]) => lo < hi);

type ConsumptionRowOut = { bucket_start: Date; bucket_end: Date; readings: string | number | null; consumption: string | number | null; resets: string | number | null; first_value: unknown; last_value: unknown };

const toConsumption = (rows: ConsumptionRowOut[]): ConsumptionBucket[] =>
  rows.map((r) => ({
    start: new Date(r.bucket_start),
    end: new Date(r.bucket_end),
    readings: Number(r.readings ?? 0),
    consumption: num(r.consumption),
    resets: Number(r.resets ?? 0),
    firstValue: num(r.first_value),
    lastValue: num(r.last_value),
  }));

/**
 * Consumption per interval of the site's (or the given) timezone, from the differences between
 * consecutive cumulative readings (reading_value, in the order reading_date, id), not from averages: each
 * difference is counted in the bucket of its later reading; the reading before `from` is the first one's
 * predecessor. A drop is a counter reset and the new value counts from zero. Every bucket of the window
 * is returned: one without readings is a gap (readings 0, consumption null).
 *
 * Read from the quarter-hour rollups where the window allows (planWindow), else from the raw readings:
 * the answers are the same (test/app/readings-rollups.test.ts compares them).
 */
export async function consumptionPerInterval(db: Executor, w: HistoryWindow, plan?: WindowPlan): Promise<ConsumptionBucket[]> {
  const p = plan ?? (await planWindow(db, w));
  try {
    return toConsumption(p.rollups ? await consumptionFromRollups(db, w, p) : await consumptionFromRaw(db, w));
  } catch (error) {
    throw mapDbError(error, 'consumption query');
  }
}

/** The same answer from the raw readings alone (the reference the rollups are tested against). */
export async function consumptionFromRawReadings(db: Executor, w: HistoryWindow): Promise<ConsumptionBucket[]> {
  try {
    return toConsumption(await consumptionFromRaw(db, w));
  } catch (error) {
    throw mapDbError(error, 'consumption query');
  }
}

async function consumptionFromRaw(db: Executor, w: HistoryWindow): Promise<ConsumptionRowOut[]> {
  const unit = unitOf(w.interval);
  const step = stepOf(w.interval);
  const result = await sql<ConsumptionRowOut>`
      WITH pts AS (
        (SELECT id, reading_date, reading_value FROM meter_readings
         WHERE meter_id = ${w.meterId} AND reading_value IS NOT NULL AND reading_date < ${w.from}
         ORDER BY reading_date DESC, id DESC LIMIT 1)
        UNION ALL
        SELECT id, reading_date, reading_value FROM meter_readings
        WHERE meter_id = ${w.meterId} AND reading_value IS NOT NULL AND reading_date >= ${w.from} AND reading_date < ${w.to}
      ), deltas AS (
        SELECT reading_date, reading_value, reading_value - lag(reading_value) OVER (ORDER BY reading_date, id) AS d,
               row_number() OVER (ORDER BY reading_date, id) AS n FROM pts
      ), per AS (
        SELECT date_trunc(${unit}, reading_date AT TIME ZONE ${w.timezone}) AS bucket,
               count(*) AS readings,
               sum(CASE WHEN d >= 0 THEN d WHEN d < 0 THEN reading_value END) AS consumption,
               count(*) FILTER (WHERE d < 0) AS resets,
               (array_agg(reading_value ORDER BY n))[1] AS first_value,
               (array_agg(reading_value ORDER BY n DESC))[1] AS last_value
        FROM deltas WHERE reading_date >= ${w.from}
        GROUP BY 1
      ), buckets AS (${bucketSeries(w, unit, step)})
      SELECT b.bucket AT TIME ZONE ${w.timezone} AS bucket_start, (b.bucket + ${step}::interval) AT TIME ZONE ${w.timezone} AS bucket_end,
             p.readings, p.consumption, p.resets, p.first_value, p.last_value
      FROM buckets b LEFT JOIN per p ON p.bucket = b.bucket
      ORDER BY b.bucket`.execute(db);
  return result.rows;
}

/**
 * From the rollups: each quarter (and each raw reading at the window's edges) is a segment with its
 * first and last value, its own consumption and resets; the difference between a segment's first value
 * and the previous segment's last value is the one between consecutive readings across them, so the sum
 * is the raw answer. The predecessor is the latest raw reading before `from`, or the last rollup quarter
 * before it where retention pruned the raw readings.
 */
async function consumptionFromRollups(db: Executor, w: HistoryWindow, p: WindowPlan): Promise<ConsumptionRowOut[]> {
  const unit = unitOf(w.interval);
  const step = stepOf(w.interval);
  const result = await sql<ConsumptionRowOut>`
      WITH prev AS (
        SELECT v FROM (
          (SELECT reading_date AS at, id AS seq, reading_value AS v FROM meter_readings
           WHERE meter_id = ${w.meterId} AND reading_value IS NOT NULL AND reading_date < ${w.from}
           ORDER BY reading_date DESC, id DESC LIMIT 1)
          UNION ALL
          (SELECT bucket + interval '15 minutes' - interval '1 microsecond', 0, last_value FROM meter_reading_rollups
           WHERE meter_id = ${w.meterId} AND value_readings > 0 AND bucket <= ${new Date(w.from.getTime() - ROLLUP_MS)}::timestamptz
           ORDER BY bucket DESC LIMIT 1)
        ) c ORDER BY at DESC, seq DESC LIMIT 1
      ), segs AS (
        ${sql.join(edgesOf(w, p).map(([lo, hi]) => sql`
        SELECT reading_date AS at, id AS seq, 1 AS readings, reading_value AS first_value, reading_value AS last_value, 0::numeric AS consumption, 0 AS resets
        FROM meter_readings
        WHERE meter_id = ${w.meterId} AND reading_value IS NOT NULL AND reading_date >= ${lo} AND reading_date < ${hi}
        UNION ALL`), sql``)}
        SELECT bucket AS at, 0 AS seq, value_readings AS readings, first_value, last_value, consumption, resets FROM meter_reading_rollups
        WHERE meter_id = ${w.meterId} AND bucket >= ${p.q1} AND bucket < ${p.q2} AND value_readings > 0
      ), linked AS (
        SELECT s.*, COALESCE(lag(last_value) OVER (ORDER BY at, seq), CASE WHEN row_number() OVER (ORDER BY at, seq) = 1 THEN (SELECT v FROM prev) END) AS before
        FROM segs s
      ), per AS (
        SELECT date_trunc(${unit}, at AT TIME ZONE ${w.timezone}) AS bucket,
               sum(readings) AS readings,
               -- No difference in the bucket (its only reading has no predecessor): null, as from raw readings.
               CASE WHEN sum(readings - 1) + count(before) > 0 THEN
                 sum(consumption + CASE WHEN before IS NULL THEN 0 WHEN first_value >= before THEN first_value - before ELSE first_value END) END AS consumption,
               sum(resets) + count(*) FILTER (WHERE first_value < before) AS resets,
               (array_agg(first_value ORDER BY at, seq))[1] AS first_value,
               (array_agg(last_value ORDER BY at DESC, seq DESC))[1] AS last_value
        FROM linked GROUP BY 1
      ), buckets AS (${bucketSeries(w, unit, step)})
      SELECT b.bucket AT TIME ZONE ${w.timezone} AS bucket_start, (b.bucket + ${step}::interval) AT TIME ZONE ${w.timezone} AS bucket_end,
             p.readings, p.consumption, p.resets, p.first_value, p.last_value
      FROM buckets b LEFT JOIN per p ON p.bucket = b.bucket
      ORDER BY b.bucket`.execute(db);
  return result.rows;
}

export const seriesFields = ['power', 'voltage', 'current', 'frequency', 'power_factor', 'temperature', 'humidity', 'energy_import', 'energy_export'] as const;
export type SeriesField = (typeof seriesFields)[number];

export interface SeriesBucket {
  start: Date;
  end: Date;
  samples: number;
  min: number | null;
  avg: number | null;
  max: number | null;
}

type SeriesRowOut = { bucket_start: Date; bucket_end: Date; samples: unknown; min: unknown; avg: unknown; max: unknown };

const toSeries = (rows: SeriesRowOut[]): SeriesBucket[] =>
  rows.map((r) => ({
    start: new Date(r.bucket_start),
    end: new Date(r.bucket_end),
    samples: Number(r.samples ?? 0),
    min: num(r.min),
    avg: r.avg === null || r.avg === undefined ? null : Math.round(Number(r.avg) * 1000) / 1000,
    max: num(r.max),
  }));

/**
 * min/avg/max of an instantaneous field per interval; every bucket of the window, empty ones with 0
 * samples. From the rollups (n, sum, min, max per quarter) where the window allows, else raw readings.
 */
export async function seriesPerInterval(db: Executor, w: HistoryWindow, field: SeriesField, plan?: WindowPlan): Promise<SeriesBucket[]> {
  const p = plan ?? (await planWindow(db, w));
  const unit = unitOf(w.interval);
  const step = stepOf(w.interval);
  const column = sql.ref(field);
  const per = p.rollups
    ? sql`
        SELECT date_trunc(${unit}, at AT TIME ZONE ${w.timezone}) AS bucket,
               sum(n) AS samples, min(mn) AS min, sum(total) / NULLIF(sum(n), 0) AS avg, max(mx) AS max
        FROM (
          ${sql.join(edgesOf(w, p).map(([lo, hi]) => sql`
          SELECT reading_date AS at, count(${column}) AS n, sum(${column}) AS total, min(${column}) AS mn, max(${column}) AS mx
          FROM meter_readings
          WHERE meter_id = ${w.meterId} AND reading_date >= ${lo} AND reading_date < ${hi}
          GROUP BY reading_date
          UNION ALL`), sql``)}
          SELECT bucket AS at, ${sql.ref(`${field}_n`)} AS n, ${sql.ref(`${field}_sum`)} AS total, ${sql.ref(`${field}_min`)} AS mn, ${sql.ref(`${field}_max`)} AS mx
          FROM meter_reading_rollups WHERE meter_id = ${w.meterId} AND bucket >= ${p.q1} AND bucket < ${p.q2}
        ) s
        GROUP BY 1`
    : sql`
        SELECT date_trunc(${unit}, reading_date AT TIME ZONE ${w.timezone}) AS bucket,
               count(${column}) AS samples, min(${column}) AS min, avg(${column}) AS avg, max(${column}) AS max
        FROM meter_readings
        WHERE meter_id = ${w.meterId} AND reading_date >= ${w.from} AND reading_date < ${w.to}
        GROUP BY 1`;
  try {
    const result = await sql<SeriesRowOut>`
      WITH per AS (${per}), buckets AS (${bucketSeries(w, unit, step)})
      SELECT b.bucket AT TIME ZONE ${w.timezone} AS bucket_start, (b.bucket + ${step}::interval) AT TIME ZONE ${w.timezone} AS bucket_end,
             p.samples, p.min, p.avg, p.max
      FROM buckets b LEFT JOIN per p ON p.bucket = b.bucket
      ORDER BY b.bucket`.execute(db);
    return toSeries(result.rows);
  } catch (error) {
    throw mapDbError(error, 'series query');
  }
}

/** The same answer from the raw readings alone (the reference the rollups are tested against). */
export const seriesFromRawReadings = (db: Executor, w: HistoryWindow, field: SeriesField) => seriesPerInterval(db, w, field, { rollups: false, q1: w.from, q2: w.to });

/**
 * Retention: delete up to `limit` raw readings older than `before` (rounded down to a quarter hour)
 * whose quarter has a rollup, marking those rollups raw_pruned (they are then the record and are not
 * recomputed). A reading whose quarter has no rollup is kept. Returns how many were deleted; the job
 * calls it again until it returns less than `limit`.
 */
export async function pruneRawReadings(db: Executor, before: Date, limit: number): Promise<{ deleted: number }> {
  const cutoff = new Date(Math.floor(before.getTime() / ROLLUP_MS) * ROLLUP_MS);
  try {
    const result = await sql<{ deleted: number }>`
      WITH doomed AS MATERIALIZED (
        SELECT r.id, r.meter_id, q.bucket FROM meter_readings r
        CROSS JOIN LATERAL (SELECT date_bin('15 minutes', r.reading_date, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket) q
        WHERE r.reading_date < ${cutoff}
          AND EXISTS (SELECT 1 FROM meter_reading_rollups u WHERE u.meter_id = r.meter_id AND u.bucket = q.bucket)
        ORDER BY r.reading_date
        LIMIT ${limit}
      ), marked AS (
        UPDATE meter_reading_rollups u SET raw_pruned = true
        FROM (SELECT DISTINCT meter_id, bucket FROM doomed) d
        WHERE u.meter_id = d.meter_id AND u.bucket = d.bucket AND NOT u.raw_pruned
        RETURNING 1
      ), deleted AS (
        DELETE FROM meter_readings r USING doomed d WHERE r.id = d.id RETURNING 1
      )
      SELECT (SELECT count(*) FROM deleted)::int AS deleted, (SELECT count(*) FROM marked)::int AS marked`.execute(db);
    return { deleted: Number(result.rows[0]?.deleted ?? 0) };
  } catch (error) {
    throw mapDbError(error, 'readings retention');
  }
}
