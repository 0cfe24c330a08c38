// Readings as the HTTP API reads and posts them (the seed's POST/GET /readings) and a meter's history:
// resolving posted meter references (our id or a meter number) in one statement, the readings of all
// meters or one, consumption per hour/day/month from the differences of the cumulative value, and
// min/avg/max of an instantaneous field per interval. Writes go through ingest/readings.ts (writeReadings).
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

/** The window's intervals as local wall-clock starts in its time zone (the buckets both histories join). */
const bucketSeries = (w: HistoryWindow, unit: ReturnType<typeof unitOf>, step: ReturnType<typeof stepOf>) => sql`
        SELECT generate_series(
          date_trunc(${unit}, ${w.from}::timestamptz AT TIME ZONE ${w.timezone}),
          (${w.to}::timestamptz AT TIME ZONE ${w.timezone}) - interval '1 microsecond',
          ${step}::interval) AS bucket`;
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * Consumption per interval of the site's (or the given) timezone, from the differences between
 * consecutive cumulative readings (reading_value), not from averages: each difference is counted in the
 * bucket of its later reading; the reading before `from` is the first one's predecessor. A drop is a
 * counter reset and the new value counts from zero. Every bucket of the window is returned: one without
 * readings is a gap (readings 0, consumption null).
 */
export async function consumptionPerInterval(db: Executor, w: HistoryWindow): Promise<ConsumptionBucket[]> {
  const unit = unitOf(w.interval);
  const step = stepOf(w.interval);
  try {
    const result = await sql<{ bucket_start: Date; bucket_end: Date; readings: string | number | null; consumption: string | number | null; resets: string | number | null; first_value: unknown; last_value: unknown }>`
      WITH pts AS (
        (SELECT reading_date, reading_value FROM meter_readings
         WHERE meter_id = ${w.meterId} AND reading_value IS NOT NULL AND reading_date < ${w.from}
         ORDER BY reading_date DESC LIMIT 1)
        UNION ALL
        SELECT reading_date, reading_value FROM meter_readings
        WHERE meter_id = ${w.meterId} AND reading_value IS NOT NULL AND reading_date >= ${w.from} AND reading_date < ${w.to}
      ), deltas AS (
        SELECT reading_date, reading_value, reading_value - lag(reading_value) OVER (ORDER BY reading_date) AS d FROM pts
      ), per AS (
        SELECT date_trunc(${unit}, reading_date AT TIME ZONE ${w.timezone}) AS bucket,
               count(*) AS readings,
               sum(CASE WHEN d >= 0 THEN d WHEN d < 0 THEN reading_value END) AS consumption,
               count(*) FILTER (WHERE d < 0) AS resets,
               (array_agg(reading_value ORDER BY reading_date))[1] AS first_value,
               (array_agg(reading_value ORDER BY reading_date DESC))[1] AS last_value
        FROM deltas WHERE reading_date >= ${w.from}
        GROUP BY 1
      ), buckets AS (${bucketSeries(w, unit, step)})
      SELECT b.bucket AT TIME ZONE ${w.timezone} AS bucket_start, (b.bucket + ${step}::interval) AT TIME ZONE ${w.timezone} AS bucket_end,
             p.readings, p.consumption, p.resets, p.first_value, p.last_value
      FROM buckets b LEFT JOIN per p ON p.bucket = b.bucket
      ORDER BY b.bucket`.execute(db);
    return result.rows.map((r) => ({
      start: new Date(r.bucket_start),
      end: new Date(r.bucket_end),
      readings: Number(r.readings ?? 0),
      consumption: num(r.consumption),
      resets: Number(r.resets ?? 0),
      firstValue: num(r.first_value),
      lastValue: num(r.last_value),
    }));
  } catch (error) {
    throw mapDbError(error, 'consumption query');
  }
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

/** min/avg/max of an instantaneous field per interval; every bucket of the window, empty ones with 0 samples. */
export async function seriesPerInterval(db: Executor, w: HistoryWindow, field: SeriesField): Promise<SeriesBucket[]> {
  const unit = unitOf(w.interval);
  const step = stepOf(w.interval);
  const column = sql.ref(field);
  try {
    const result = await sql<{ bucket_start: Date; bucket_end: Date; samples: unknown; min: unknown; avg: unknown; max: unknown }>`
      WITH per AS (
        SELECT date_trunc(${unit}, reading_date AT TIME ZONE ${w.timezone}) AS bucket,
               count(${column}) AS samples, min(${column}) AS min, avg(${column}) AS avg, max(${column}) AS max
        FROM meter_readings
        WHERE meter_id = ${w.meterId} AND reading_date >= ${w.from} AND reading_date < ${w.to}
        GROUP BY 1
      ), buckets AS (${bucketSeries(w, unit, step)})
      SELECT b.bucket AT TIME ZONE ${w.timezone} AS bucket_start, (b.bucket + ${step}::interval) AT TIME ZONE ${w.timezone} AS bucket_end,
             p.samples, p.min, p.avg, p.max
      FROM buckets b LEFT JOIN per p ON p.bucket = b.bucket
      ORDER BY b.bucket`.execute(db);
    return result.rows.map((r) => ({
      start: new Date(r.bucket_start),
      end: new Date(r.bucket_end),
      samples: Number(r.samples ?? 0),
      min: num(r.min),
      avg: r.avg === null || r.avg === undefined ? null : Math.round(Number(r.avg) * 1000) / 1000,
      max: num(r.max),
    }));
  } catch (error) {
    throw mapDbError(error, 'series query');
  }
}
