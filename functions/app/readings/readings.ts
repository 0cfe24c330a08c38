// Readings over HTTP (the seed's POST /readings, the Modbus collector's batches) and a meter's history.
// A posted reading is keyed by its meter and its time (the idempotency key): posting it again stores
// nothing new. A reading for a meter nobody registered is quarantined with its reason, like any inbound
// message; a value no column can hold is kept in `extra` and flagged instead of failing the batch.
import type { Logger } from '#shared/logger';
import { checkClock, defaultClockPolicy, type ClockPolicy } from '#domain/clock';
import { POSTED_READINGS_TOPIC, readingSourceKey, storedPostedReadingSchema, type PostedReading } from '#domain/posted-readings';
import type { InboundMessage } from '../ingest/inbound.ts';
import type { IngestResult } from '../ingest/ingest.ts';
import type { Db } from '#store/db';
import * as store from '#store/readings';
import type { DeviceUpdateRow, QuarantineRow, ReadingRow } from '#store/readings';
import type { Principal } from '#domain/roles';
import { MeterNotFoundError } from '../registry/errors.ts';
import { quarantineRow } from '#app/ingest/batch-writer';

export interface ReadingsDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  clockPolicy?: ClockPolicy;
}

export interface PostReadingsResult {
  received: number;
  stored: number;
  /** Already stored (same meter and time): nothing written. */
  duplicates: number;
  quarantined: number;
  /** Each quarantined reading's meter reference and reason. */
  problems: { index: number; meterId: string; reason: string }[];
}

// What the meter_readings columns hold (numeric(p,s)): beyond it a value is kept in extra, not stored there.
const COLUMN_LIMITS = {
  voltage: 1e7, current: 1e7, power: 1e11, energyImport: 1e14, energyExport: 1e14, frequency: 1e3, powerFactor: 100,
} as const;

function storable(r: PostedReading): { values: Record<keyof typeof COLUMN_LIMITS, number | null>; unstorable: Record<string, number> } {
  const values = {} as Record<keyof typeof COLUMN_LIMITS, number | null>;
  const unstorable: Record<string, number> = {};
  for (const [name, limit] of Object.entries(COLUMN_LIMITS) as [keyof typeof COLUMN_LIMITS, number][]) {
    const v = r[name];
    if (v !== null && Math.abs(v) >= limit) {
      unstorable[name] = v;
      values[name] = null;
    } else values[name] = v;
  }
  return { values, unstorable };
}

export async function postReadings(deps: ReadingsDeps, readings: PostedReading[], principal: Principal): Promise<PostReadingsResult> {
  const receivedAt = deps.now();
  const policy = deps.clockPolicy ?? defaultClockPolicy;
  const meters = await store.resolveMeterRefs(deps.db, [...new Set(readings.map((r) => r.meterRef))]);
  const byRef = new Map(meters.map((m) => [m.ref, m]));
  const rows: ReadingRow[] = [];
  const quarantine: QuarantineRow[] = [];
  const problems: PostReadingsResult['problems'] = [];
  const devices = new Map<string, DeviceUpdateRow>();
  readings.forEach((r, index) => {
    const reported = r.timestamp ? new Date(r.timestamp) : receivedAt;
    // Kept with the time it was given (or received at), so reprocessing stores it at that time.
    const payload = JSON.stringify({ ...r, timestamp: reported.toISOString() });
    const meter = byRef.get(r.meterRef);
    const clock = checkClock(reported, receivedAt, policy);
    const reject = (reasonCode: string, reason: string) => {
      problems.push({ index, meterId: r.meterRef, reason });
      const msg = { id: `reading-${index}`, source: 'http' as const, topic: POSTED_READINGS_TOPIC, payload: Buffer.from(payload), receivedAt };
      quarantine.push(quarantineRow({ msg, reasonCode, reason, meterNo: r.meterRef, dedupKey: `http-reading:${r.meterRef}:${reported.getTime()}` })[1]);
    };
    if (!meter) return reject('unknown_meter', `no meter with id or number ${r.meterRef}: register it, then reprocess`);
    if (!clock.ok) return reject('future_time', clock.reason);
    const time = clock.time.toISOString();
    const { values, unstorable } = storable(r);
    const extra: Record<string, unknown> = { ...r.extra, postedBy: principal.subject };
    if (Object.keys(unstorable).length) {
      extra.unstorable = unstorable;
      extra.flags = [...((r.extra.flags as string[] | undefined) ?? []), ...Object.keys(unstorable).map((k) => `unstorable:${k}`)];
    }
    if (clock.correction) extra.clock = { reportedTime: clock.correction.reportedTime, correctedTo: clock.correction.correctedTo };
    rows.push({
      meter_id: meter.meter_id, device_id: meter.device_id,
      // The key is the time the sender reported, so a corrected reading sent again is still recognised.
      source_key: readingSourceKey(meter.meter_id, reported.toISOString()),
      reading_value: values.energyImport, reading_date: time,
      pulse_count: null, temperature: null, humidity: null, rssi: null, snr: null, battery_level: null,
      voltage: values.voltage, current: values.current, power: values.power, energy_import: values.energyImport,
      energy_export: values.energyExport, frequency: values.frequency, power_factor: values.powerFactor,
      f_cnt: null, extra, raw_payload: null, counter: false, pulses_per_unit: null,
    });
    if (meter.device_id) {
      const seen = devices.get(meter.device_id);
      if (!seen || seen.last_seen_at < time) {
        devices.set(meter.device_id, { id: meter.device_id, last_seen_at: time, last_f_cnt: null, battery_level: null, margin: null, joined_at: null });
      }
    }
  });
  const stored = (await store.writePostedReadings(deps.db, rows, [...devices.values()], quarantine)).inserted;
  if (problems.length) {
    deps.logger.warn('POST /readings: readings quarantined', { count: problems.length, first: problems[0], by: principal.subject });
  }
  return { received: readings.length, stored, duplicates: rows.length - stored, quarantined: quarantine.length, problems };
}

/** A meter by our id or its number: readings and history accept either. */
export async function requireMeterRef(db: Db, ref: string): Promise<store.ResolvedMeter> {
  const [meter] = await store.resolveMeterRefs(db, [ref]);
  if (!meter) throw new MeterNotFoundError(ref);
  return meter;
}

export const listAllReadings = (db: Db, filter: store.AllReadingsFilter) => store.listAllReadings(db, filter);

/** One meter's readings by our id or its number, newest first (one round trip). */
export async function meterReadingsByRef(db: Db, ref: string, filter: { from?: Date | undefined; to?: Date | undefined; limit: number }) {
  const found = await store.listMeterReadingsByRef(db, ref, filter);
  if (!found) throw new MeterNotFoundError(ref);
  return found;
}

export interface HistoryQuery {
  interval: store.HistoryInterval;
  from?: Date;
  to?: Date;
  tz?: string;
}

/** The most buckets one history request returns. */
export const MAX_BUCKETS = 10_000;

const DEFAULT_SPAN_MS: Record<store.HistoryInterval, number> = { hour: 86_400_000, day: 30 * 86_400_000, month: 365 * 86_400_000 };

async function windowOf(db: Db, meterId: string, q: HistoryQuery, now: Date): Promise<store.HistoryWindow> {
  const meter = await requireMeterRef(db, meterId);
  const to = q.to ?? now;
  const from = q.from ?? new Date(to.getTime() - DEFAULT_SPAN_MS[q.interval]);
  return { meterId: meter.meter_id, interval: q.interval, from, to, timezone: q.tz ?? meter.timezone };
}

export async function meterConsumption(db: Db, meterId: string, q: HistoryQuery, now: Date) {
  const w = await windowOf(db, meterId, q, now);
  return { window: w, buckets: await store.consumptionPerInterval(db, w) };
}

export async function meterSeries(db: Db, meterId: string, q: HistoryQuery, field: store.SeriesField, now: Date) {
  const w = await windowOf(db, meterId, q, now);
  return { window: w, buckets: await store.seriesPerInterval(db, w, field) };
}


/**
 * The ingestion handler for reprocessing quarantined messages, extended with the readings POST /readings
 * quarantined (an unknown meter, since registered): those are posted again; the rest goes to `ingest`.
 */
export function withPostedReadings(ingest: (messages: InboundMessage[]) => Promise<IngestResult>, deps: ReadingsDeps, principal: Principal) {
  return async (messages: InboundMessage[]): Promise<IngestResult> => {
    const posted = messages.filter((m) => m.topic === POSTED_READINGS_TOPIC);
    const rest = messages.filter((m) => m.topic !== POSTED_READINGS_TOPIC);
    const result: IngestResult = rest.length ? await ingest(rest) : { received: 0, readings: 0, events: 0, quarantined: 0, retry: [], outcomes: new Map() };
    for (const m of posted) {
      let reading: PostedReading | undefined;
      try {
        const parsed = storedPostedReadingSchema.safeParse(JSON.parse(Buffer.from(m.payload).toString('utf8')));
        if (parsed.success) reading = parsed.data;
      } catch {
        reading = undefined;
      }
      result.received++;
      if (!reading) {
        result.quarantined++;
        result.outcomes.set(m.id, 'quarantined');
        continue;
      }
      const outcome = await postReadings(deps, [reading], principal);
      const stored = outcome.quarantined === 0;
      if (stored) result.readings++;
      else result.quarantined++;
      result.outcomes.set(m.id, stored ? 'reading' : 'quarantined');
    }
    return result;
  };
}
