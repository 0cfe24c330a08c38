// `npm run bench:history`: a meter's history at scale. Starts the platform in this process (PGlite by
// default; DATABASE_URL for PostgreSQL in a schema of its own), stores BENCH_METERS meters ×
// BENCH_READINGS readings each (default 10,000 × 1,000 = 10 million; one every 525 minutes, a year) straight
// in the database, then times, through the HTTP API with a viewer token, for BENCH_SAMPLES random meters:
//   latest100  GET /readings/{meter}?limit=100             (a meter's latest 100 readings)
//   daily30    GET /meters/{id}/consumption?interval=day   (30 days of daily consumption)
//   monthly12  GET /meters/{id}/consumption?interval=month (12 months)
// and prints one JSON object: rows, the p50/p99 of each, and the targets (20 / 50 / 100 ms p99).
import { sql } from 'kysely';
import { machine, startBenchPlatform } from './support.ts';

const meters = Number(process.env.BENCH_METERS ?? 10_000);
const perMeter = Number(process.env.BENCH_READINGS ?? 1_000);
const samples = Number(process.env.BENCH_SAMPLES ?? 300);
const chunk = Number(process.env.BENCH_CHUNK_METERS ?? 100);
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
  for (let first = 1; first <= meters; first += chunk) {
    const last = Math.min(meters, first + chunk - 1);
    // Cumulative energy grows 0.5–2.5 kWh per reading; every 97th meter has a counter reset halfway.
    await sql`
      INSERT INTO meter_readings (meter_id, source_key, reading_value, reading_date, voltage, current, power, energy_import)
      SELECT m.id, 'bench:' || m.meter_no || ':' || k,
             CASE WHEN n % 97 = 0 AND k > ${perMeter / 2} THEN (k - ${perMeter / 2}) * 1.5 ELSE 1000 + k * (0.5 + (n % 5) * 0.5) END,
             ${end}::timestamptz - ((${perMeter} - k) * ${stepMinutes}) * interval '1 minute',
             225 + (k % 10), 2 + (k % 7), 500 + (k % 13) * 100,
             CASE WHEN n % 97 = 0 AND k > ${perMeter / 2} THEN (k - ${perMeter / 2}) * 1.5 ELSE 1000 + k * (0.5 + (n % 5) * 0.5) END
      FROM (SELECT id, meter_no, substr(meter_no, 2)::int AS n FROM meters WHERE meter_no BETWEEN ${`H${String(first).padStart(7, '0')}`} AND ${`H${String(last).padStart(7, '0')}`}) m
      CROSS JOIN generate_series(1, ${perMeter}) AS k`.execute(db);
    if (process.stderr.isTTY || process.env.BENCH_PROGRESS) process.stderr.write(`\rloaded ${last}/${meters} meters`);
  }
  await sql`ANALYZE meters`.execute(db);
  await sql`ANALYZE meter_readings`.execute(db);
  const loadS = (performance.now() - loadStarted) / 1000;
  const rows = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM meter_readings`.execute(db)).rows[0]?.n);

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
  const result: Record<string, unknown> = { backend, rows, meters, readingsPerMeter: perMeter, loadSeconds: Math.round(loadS), samples };
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
  result.targetsP99Ms = { latest100: 20, daily30: 50, monthly12: 100 };
  result.met = (result.latest100P99Ms as number) <= 20 && (result.daily30P99Ms as number) <= 50 && (result.monthly12P99Ms as number) <= 100;
  result.machine = machine();
  if (process.stderr.isTTY || process.env.BENCH_PROGRESS) process.stderr.write('\n');
  console.log(JSON.stringify(result));
} finally {
  await dispose();
}
