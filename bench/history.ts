// `npm run bench:history`: a meter's history at scale. Starts the platform in this process (PGlite by
// default; DATABASE_URL for PostgreSQL in a schema of its own), stores BENCH_METERS meters ×
// BENCH_READINGS readings each (default 10,000 × 1,000 = 10 million; 286–764 minutes apart, a year) straight
// in the database (a bulk load: see below), then times, through the HTTP API with a viewer token, for BENCH_SAMPLES random meters:
//   latest100  GET /readings/{meter}?limit=100             (a meter's latest 100 readings)
//   daily30    GET /meters/{id}/consumption?interval=day   (30 days of daily consumption)
//   monthly12  GET /meters/{id}/consumption?interval=month (12 months)
// and prints one JSON object: rows, the p50/p99 of each, the p99 of the same work in the store alone
// (…StoreP99Ms: SQL without HTTP), and the targets (20 / 50 / 100 ms p99).
import os from 'node:os';
import { sql } from 'kysely';
import { machine, startBenchPlatform } from './support.ts';
import { consumptionPerInterval, listMeterReadingsByRef, resolveMeterRefs } from '#store/readings';

const meters = Number(process.env.BENCH_METERS ?? 10_000);
const perMeter = Number(process.env.BENCH_READINGS ?? 1_000);
const samples = Number(process.env.BENCH_SAMPLES ?? 300);
const stepMinutes = 525;
const end = new Date(Date.UTC(2026, 10, 1));

// Loading statements run long on a busy machine: the statement timeout is raised for the benchmark only.
const { platform, dispose } = await startBenchPlatform('history', { DATABASE_STATEMENT_TIMEOUT_MS: '1800000' });
const db = platform.db.db;
const backend = process.env.DATABASE_URL ? 'postgres' : 'pglite';

try {
  const loadStarted = performance.now();
  await sql`
    INSERT INTO meters (meter_no, meter_type, unit, communication_status)
    SELECT 'H' || lpad(i::text, 7, '0'), 'electricity', 'kWh', 'online' FROM generate_series(1, ${meters}) AS i`.execute(db);
  // A bulk load the way one is done: the readings' secondary indexes are dropped and built again after,
  // the rollup triggers are off and the rollups are built set-based after (meter_reading_rollups_rebuild),
  // as the migration backfills them. The readings go in in time order (round k of every meter, then
  // round k+1), as a live system stores them, so a meter's readings are spread over the table.
  const indexes = (await sql<{ indexname: string; indexdef: string }>`
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename = 'meter_readings' AND indexname <> 'meter_readings_pkey'`.execute(db)).rows;
  const constraints = (await sql<{ conname: string; def: string }>`
    SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
    WHERE conrelid = 'meter_readings'::regclass AND contype = 'u'`.execute(db)).rows;
  for (const c of constraints) await sql`ALTER TABLE meter_readings DROP CONSTRAINT ${sql.ref(c.conname)}`.execute(db);
  for (const i of indexes) if (!constraints.some((c) => c.conname === i.indexname)) await sql`DROP INDEX ${sql.ref(i.indexname)}`.execute(db);
  await sql`ALTER TABLE meter_readings DISABLE TRIGGER USER`.execute(db);
  const rounds = Math.max(1, Math.ceil(perMeter / 10));
  for (let first = 1; first <= perMeter; first += rounds) {
    const last = Math.min(perMeter, first + rounds - 1);
    // Reading k of meter n: every 525 minutes less a jitter of 0–239 minutes (spacing 286–764 minutes),
    // a year in all; cumulative energy grows 0.5–2.5 kWh per reading; every 97th meter has a counter
    // reset halfway; every 89th meter was silent for 15 days (its first 300 readings are 15 days earlier).
    await sql`
      INSERT INTO meter_readings (meter_id, source_key, reading_value, reading_date, voltage, current, power, energy_import, frequency, power_factor)
      SELECT m.id, 'bench:' || m.meter_no || ':' || k, v.value,
             ${end}::timestamptz - ((${perMeter} - k) * ${stepMinutes} + (n * 7919 + k * 104729) % 240) * interval '1 minute'
               - CASE WHEN n % 89 = 0 AND k <= 300 THEN interval '15 days' ELSE interval '0' END,
             225 + (k % 10), 2 + (k % 7), 500 + (k % 13) * 100, v.value, 49.9 + (k % 3) * 0.1, 0.9 + (k % 10) * 0.01
      FROM generate_series(${first}::int, ${last}::int) AS k
      CROSS JOIN (SELECT id, meter_no, substr(meter_no, 2)::int AS n FROM meters WHERE meter_no LIKE 'H%') m
      CROSS JOIN LATERAL (SELECT CASE WHEN n % 97 = 0 AND k > ${perMeter / 2} THEN (k - ${perMeter / 2}) * 1.5 ELSE 1000 + k * (0.5 + (n % 5) * 0.5) END AS value) v`.execute(db);
    if (process.stderr.isTTY || process.env.BENCH_PROGRESS) process.stderr.write(`\rloaded ${last}/${perMeter} rounds`);
  }
  const insertedAt = performance.now();
  for (const i of indexes) if (!constraints.some((c) => c.conname === i.indexname)) await sql.raw(i.indexdef).execute(db);
  for (const c of constraints) await sql`ALTER TABLE meter_readings ADD CONSTRAINT ${sql.ref(c.conname)} ${sql.raw(c.def)}`.execute(db);
  await sql`ALTER TABLE meter_readings ENABLE TRIGGER USER`.execute(db);
  const indexedAt = performance.now();
  await sql`SELECT meter_reading_rollups_rebuild(NULL, NULL)`.execute(db);
  const rolledUpAt = performance.now();
  await sql`ANALYZE meters`.execute(db);
  await sql`ANALYZE meter_readings`.execute(db);
  await sql`ANALYZE meter_reading_rollups`.execute(db);
  const loadS = (performance.now() - loadStarted) / 1000;
  const rows = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM meter_readings`.execute(db)).rows[0]?.n);
  const rollupRows = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM meter_reading_rollups`.execute(db)).rows[0]?.n);

  const ids = (await sql<{ id: string; meter_no: string }>`SELECT id, meter_no FROM meters WHERE meter_no LIKE 'H%' ORDER BY random() LIMIT ${samples}`.execute(db)).rows;
  const token = await platform.auth.sign('viewer');
  const get = async (path: string) => {
    const started = performance.now();
    const res = await fetch(`${platform.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${body.slice(0, 200)}`);
    return { ms: performance.now() - started, body };
  };
  const q = (values: Record<string, string>) => new URLSearchParams(values).toString();
  const day = 86_400_000;
  const daysEnd = end.toISOString();
  const queries = {
    latest100: (m: { id: string; meter_no: string }) => `/readings/${m.meter_no}?limit=100`,
    daily30: (m: { id: string }) => `/meters/${m.id}/consumption?${q({ interval: 'day', tz: 'UTC', from: new Date(end.getTime() - 30 * day).toISOString(), to: daysEnd })}`,
    monthly12: (m: { id: string }) => `/meters/${m.id}/consumption?${q({ interval: 'month', tz: 'UTC', from: '2025-11-01T00:00:00Z', to: daysEnd })}`,
  };
  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return Math.round((s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? 0) * 10) / 10;
  };
  const result: Record<string, unknown> = { backend, rows, rollupRows, meters, readingsPerMeter: perMeter, loadSeconds: Math.round(loadS),
    loadPhasesSeconds: { insert: Math.round((insertedAt - loadStarted) / 1000), indexes: Math.round((indexedAt - insertedAt) / 1000), rollups: Math.round((rolledUpAt - indexedAt) / 1000) },
    samples, loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 10) / 10) };
  for (const [name, path] of Object.entries(queries)) {
    for (const m of ids.slice(0, 20)) await get(path(m)); // warm-up
    const times: number[] = [];
    let checked = false;
    for (const m of ids) {
      const { ms, body } = await get(path(m));
      times.push(ms);
      if (!checked) {
        const items = (JSON.parse(body) as { items: unknown[] }).items;
        const expected = name === 'latest100' ? 100 : name === 'daily30' ? 30 : 12;
        if (items.length !== expected) throw new Error(`${name}: ${items.length} items, expected ${expected}`);
        checked = true;
      }
    }
    result[`${name}P50Ms`] = pct(times, 50);
    result[`${name}P99Ms`] = pct(times, 99);
  }
  // The same requests' database work alone (the meter's resolution and the query, in the store), to tell
  // the SQL from the HTTP and application layers.
  const storeQueries = {
    latest100: (m: { id: string; meter_no: string }) => listMeterReadingsByRef(db, m.meter_no, { limit: 100 }),
    daily30: async (m: { id: string }) => {
      const [r] = await resolveMeterRefs(db, [m.id]);
      return consumptionPerInterval(db, { meterId: r?.meter_id ?? m.id, interval: 'day', from: new Date(end.getTime() - 30 * day), to: end, timezone: 'UTC' });
    },
    monthly12: async (m: { id: string }) => {
      const [r] = await resolveMeterRefs(db, [m.id]);
      return consumptionPerInterval(db, { meterId: r?.meter_id ?? m.id, interval: 'month', from: new Date('2025-11-01T00:00:00Z'), to: end, timezone: 'UTC' });
    },
  };
  for (const [name, run] of Object.entries(storeQueries)) {
    const times: number[] = [];
    for (const m of ids) {
      const started = performance.now();
      await run(m);
      times.push(performance.now() - started);
    }
    result[`${name}StoreP50Ms`] = pct(times, 50);
    result[`${name}StoreP99Ms`] = pct(times, 99);
  }
  result.loadAverageAtEnd = os.loadavg().map((l) => Math.round(l * 10) / 10);
  result.targetsP99Ms = { latest100: 20, daily30: 50, monthly12: 100 };
  result.met = (result.latest100P99Ms as number) <= 20 && (result.daily30P99Ms as number) <= 50 && (result.monthly12P99Ms as number) <= 100;
  result.machine = machine();
  if (process.stderr.isTTY || process.env.BENCH_PROGRESS) process.stderr.write('\n');
  console.log(JSON.stringify(result));
} finally {
  await dispose();
}
