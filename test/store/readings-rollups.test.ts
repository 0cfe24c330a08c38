// History from the quarter-hour rollups (schema/0019_readings_rollups.sql) gives the same answers as the
// raw readings: consumption (counter resets, gaps, readings without a value, two readings at one time,
// late readings and corrected ones) and series, per hour/day/month, in UTC, a DST zone, whole-hour zones
// and the 30- and 45-minute zones (Asia/Kolkata, Asia/Kathmandu), for aligned and unaligned windows. The
// rollups kept by the trigger equal a rebuild from scratch, and retention deletes only raw readings whose
// quarters are rolled up, after which the answers stay the same.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReadings, type ReadingRow } from '#store/ingest/readings';
import {
  consumptionFromRawReadings, consumptionPerInterval, planWindow, pruneRawReadings, seriesFields, seriesFromRawReadings, seriesPerInterval,
  type HistoryInterval, type HistoryWindow,
} from '#store/readings';
import { openTestDb, type TestDb } from '../support/db.ts';

/** A deterministic pseudo-random sequence (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const reading = (meterId: string, key: string, at: Date, value: number | null, extra: Partial<ReadingRow> = {}): ReadingRow => ({
  meter_id: meterId, device_id: null, source_key: key, reading_value: value, reading_date: at.toISOString(),
  pulse_count: null, temperature: null, humidity: null, rssi: null, snr: null, battery_level: null,
  voltage: null, current: null, power: null, energy_import: value, energy_export: null, frequency: null, power_factor: null,
  f_cnt: null, extra: null, raw_payload: null, counter: false, pulses_per_unit: null, ...extra,
});

describe('readings history from rollups', () => {
  let testDb: TestDb;
  let meterId: string;
  const start = Date.UTC(2026, 1, 26, 20, 7); // 2026-02-26T20:07Z: across a month end and a US DST change (March 8)
  const rows: ReadingRow[] = [];

  async function newMeter(): Promise<string> {
    const r = await sql<{ id: string }>`INSERT INTO meters (meter_no, meter_type, unit) VALUES (${`R${Math.random().toString(36).slice(2, 10)}`}, 'electricity', 'kWh') RETURNING id`.execute(testDb.db);
    return r.rows[0]!.id;
  }

  beforeAll(async () => {
    testDb = await openTestDb();
    meterId = await newMeter();
    const rnd = random(12);
    let t = start;
    let value = 1000;
    for (let i = 0; i < 900; i++) {
      // Mostly 1–40 minutes apart (several readings in a quarter), sometimes hours; one gap of 30 hours.
      t += i === 400 ? 30 * 3_600_000 : rnd() < 0.05 ? Math.floor(rnd() * 5 * 3_600_000) : Math.floor(1 + rnd() * 40) * 60_000 + Math.floor(rnd() * 59_000);
      value = i === 300 || i === 650 ? Math.round(rnd() * 5 * 1000) / 1000 : Math.round((value + rnd() * 2) * 1000) / 1000; // two counter resets
      const noValue = i % 37 === 5;
      rows.push(reading(meterId, `r:${i}`, new Date(t), noValue ? null : value, {
        voltage: 220 + Math.round(rnd() * 200) / 10, power: Math.round(rnd() * 5_000_000) / 1000, current: i % 11 === 0 ? null : Math.round(rnd() * 300) / 10,
        frequency: 49.8 + Math.round(rnd() * 40) / 100, power_factor: Math.round((0.8 + rnd() * 0.2) * 1000) / 1000,
      }));
    }
    // A second reading at the same instant as another one (another source).
    const twin = rows[120]!;
    rows.push(reading(meterId, 'r:twin', new Date(twin.reading_date), (twin.reading_value ?? 0) + 0.25, { power: 10 }));
    // Stored in shuffled batches: most readings arrive in order, some late (earlier than ones already stored).
    const order = rows.map((r, i) => ({ r, k: i + (rnd() < 0.15 ? -Math.floor(rnd() * 300) : 0) })).sort((a, b) => a.k - b.k).map((x) => x.r);
    for (let i = 0; i < order.length; i += 45) await writeReadings(testDb.db, order.slice(i, i + 45), []);
    // A stored reading corrected afterwards (as a late pulse-counter uplink corrects the readings after it).
    await sql`UPDATE meter_readings SET reading_value = reading_value + 0.5 WHERE source_key = 'r:500'`.execute(testDb.db);
  });
  afterAll(async () => {
    await testDb.close();
  });

  const end = () => new Date(rows.reduce((m, r) => Math.max(m, Date.parse(r.reading_date)), 0) + 60_000);
  const zones = ['UTC', 'Africa/Nairobi', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu'];
  const windows = (): { name: string; from: Date; to: Date; interval: HistoryInterval }[] => [
    { name: 'hourly, aligned', from: new Date('2026-02-27T00:00:00Z'), to: new Date('2026-03-02T00:00:00Z'), interval: 'hour' },
    { name: 'hourly, unaligned', from: new Date('2026-02-27T03:07:41Z'), to: new Date('2026-03-01T17:52:03Z'), interval: 'hour' },
    { name: 'daily, whole history', from: new Date(start - 86_400_000), to: end(), interval: 'day' },
    { name: 'daily, unaligned', from: new Date('2026-02-28T05:31:00Z'), to: new Date('2026-03-09T11:11:11Z'), interval: 'day' },
    { name: 'monthly', from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-05-01T00:00:00Z'), interval: 'month' },
  ];

  it('keeps the rollups the trigger maintained equal to a rebuild from the raw readings', async () => {
    const kept = (await sql`SELECT * FROM meter_reading_rollups WHERE meter_id = ${meterId} ORDER BY bucket`.execute(testDb.db)).rows;
    await sql`SELECT meter_reading_rollups_rebuild(NULL, NULL)`.execute(testDb.db);
    const rebuilt = (await sql`SELECT * FROM meter_reading_rollups WHERE meter_id = ${meterId} ORDER BY bucket`.execute(testDb.db)).rows;

    expect(kept.length).toBeGreaterThan(300);
    expect(kept).toEqual(rebuilt);
  });

  it('gives the raw answer for consumption and every series field, in every zone and window', async () => {
    let fromRollups = 0;
    for (const tz of zones) {
      for (const win of windows()) {
        const w: HistoryWindow = { meterId, interval: win.interval, from: win.from, to: win.to, timezone: tz };
        const plan = await planWindow(testDb.db, w);
        if (plan.rollups) fromRollups++;
        const label = `${tz} ${win.name}`;
        expect(await consumptionPerInterval(testDb.db, w), label).toEqual(await consumptionFromRawReadings(testDb.db, w));
        for (const field of seriesFields) {
          expect(await seriesPerInterval(testDb.db, w, field), `${label} ${field}`).toEqual(await seriesFromRawReadings(testDb.db, w, field));
        }
      }
    }
    // Every window of every zone above is on the quarter-hour grid: all came from the rollups.
    expect(fromRollups).toBe(zones.length * windows().length);
  });

  it('reads a window in a zone off the quarter-hour grid from the raw readings', async () => {
    // Africa/Monrovia was UTC-00:44:30 until 1972: its local days did not start on a quarter hour.
    const w: HistoryWindow = { meterId, interval: 'day', from: new Date('1971-01-01T00:00:00Z'), to: new Date('1971-01-05T00:00:00Z'), timezone: 'Africa/Monrovia' };

    expect((await planWindow(testDb.db, w)).rollups).toBe(false);
  });

  it('counts a day with a counter reset from the rollups in Asia/Kolkata, hour by hour and for the day', async () => {
    const id = await newMeter();
    // 2026-03-10 in Kolkata (+05:30) starts at 2026-03-09T18:30Z.
    const at = (h: number, m: number) => new Date(Date.UTC(2026, 2, 9, 18, 30) + (h * 60 + m) * 60_000);
    await writeReadings(testDb.db, [
      reading(id, 'k:0', new Date(Date.UTC(2026, 2, 9, 18, 0)), 100), // the day before
      reading(id, 'k:1', at(0, 10), 101),
      reading(id, 'k:2', at(0, 50), 103),
      reading(id, 'k:3', at(2, 5), 106),
      reading(id, 'k:4', at(2, 20), 2), // counter reset: counts 2 from zero
      reading(id, 'k:5', at(5, 45), 6),
    ], []);
    const day: HistoryWindow = { meterId: id, interval: 'day', from: at(0, 0), to: at(24, 0), timezone: 'Asia/Kolkata' };
    const hours: HistoryWindow = { ...day, interval: 'hour', to: at(6, 0) };

    expect((await planWindow(testDb.db, day)).rollups).toBe(true);
    const [daily] = await consumptionPerInterval(testDb.db, day);
    expect(daily).toMatchObject({ start: at(0, 0), consumption: 1 + 2 + 3 + 2 + 4, readings: 5, resets: 1, firstValue: 101, lastValue: 6 });
    const hourly = await consumptionPerInterval(testDb.db, hours);
    expect(hourly.map((b) => [b.consumption, b.resets])).toEqual([[3, 0], [null, 0], [5, 1], [null, 0], [null, 0], [4, 0]]);
    expect(hourly.map((b) => b.readings === 0)).toEqual([false, true, false, true, true, false]);
  });

  it('keeps the answers once retention deleted the raw readings their rollups cover, and keeps readings no rollup covers', async () => {
    const cutoff = new Date('2026-03-03T00:00:00Z');
    // Windows whose edges are not inside a pruned quarter (a pruned quarter can no longer be split).
    const checks = windows().filter((win) => !win.name.includes('unaligned')).flatMap((win) => zones.map((tz): HistoryWindow => ({ meterId, interval: win.interval, from: win.from, to: win.to, timezone: tz })));
    const before = await Promise.all(checks.map(async (w) => [await consumptionPerInterval(testDb.db, w), await seriesPerInterval(testDb.db, w, 'power')]));
    // A quarter without a rollup (as if rolled up by nobody): its raw readings must stay.
    const [uncovered] = (await sql<{ bucket: Date }>`
      DELETE FROM meter_reading_rollups WHERE meter_id = ${meterId} AND bucket < ${cutoff} AND readings > 0
      AND bucket = (SELECT min(bucket) FROM meter_reading_rollups WHERE meter_id = ${meterId} AND bucket > '2026-02-28T00:00:00Z') RETURNING bucket`.execute(testDb.db)).rows;
    expect(uncovered).toBeDefined();
    const oldRaw = async () => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM meter_readings WHERE meter_id = ${meterId} AND reading_date < ${cutoff}`.execute(testDb.db)).rows[0]?.n);
    const uncoveredRaw = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM meter_readings WHERE meter_id = ${meterId} AND reading_date >= ${uncovered!.bucket} AND reading_date < ${new Date(uncovered!.bucket.getTime() + 900_000)}`.execute(testDb.db)).rows[0]?.n);
    await sql`SELECT meter_reading_rollups_refresh(${JSON.stringify([{ meter_id: meterId, bucket: uncovered!.bucket.toISOString() }])}::jsonb)`.execute(testDb.db);
    const restoredBefore = await oldRaw();
    await sql`DELETE FROM meter_reading_rollups WHERE meter_id = ${meterId} AND bucket = ${uncovered!.bucket}`.execute(testDb.db);

    let deleted = 0;
    for (let batch = 0; batch < 100; batch++) {
      const n = (await pruneRawReadings(testDb.db, cutoff, 50)).deleted;
      deleted += n;
      if (n < 50) break;
    }

    expect(deleted).toBe(restoredBefore - uncoveredRaw);
    expect(await oldRaw()).toBe(uncoveredRaw);
    // The rolled-up quarter comes back (its raw readings are still there), then every answer is as before.
    await sql`SELECT meter_reading_rollups_refresh(${JSON.stringify([{ meter_id: meterId, bucket: uncovered!.bucket.toISOString() }])}::jsonb)`.execute(testDb.db);
    const after = await Promise.all(checks.map(async (w) => [await consumptionPerInterval(testDb.db, w), await seriesPerInterval(testDb.db, w, 'power')]));
    expect(after).toEqual(before);
    const pruned = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM meter_reading_rollups WHERE meter_id = ${meterId} AND raw_pruned`.execute(testDb.db)).rows[0]?.n);
    expect(pruned).toBeGreaterThan(100);
  });
});
