// `npm run bench:billing`: the billing job over BENCH_METERS meters (100,000) on BENCH_ACCOUNTS accounts
// (1,000) of one site whose default tariff is time-of-use with VAT, on the local platform's database
// (PGlite by default; DATABASE_URL for real PostgreSQL in a schema of its own). A first run sets every
// meter's baseline (its first reading; nothing to bill yet); then every meter gets a new reading 15 minutes
// later and the timed run bills them all; a second run must post nothing. The tariff has a daily standing
// charge (with VAT) too and the readings straddle local midnight, so the timed run also posts one
// fixed-charge entry per account for the new local day (fixedEntriesPosted). Prints one JSON object.
import { sql } from 'kysely';
import { logger } from '#shared/logger';
import { runBilling } from '#app/billing/billing';
import { invariantViolations } from '#store/ledger';
import { machine, startBenchPlatform } from './support.ts';

const meters = Number(process.env.BENCH_METERS ?? 100_000);
const accounts = Number(process.env.BENCH_ACCOUNTS ?? 1_000);

const { platform, dispose } = await startBenchPlatform('billing');
const db = platform.db.db;
const deps = { db, logger };

const components = [
  {
    id: 'energy',
    kind: 'tou',
    name: 'Energy',
    bands: [
      { name: 'peak', rateMinor: '2500' },
      { name: 'offpeak', rateMinor: '1200' },
    ],
    periods: [
      { band: 'peak', days: 'weekdays', from: '06:00', to: '22:00' },
      { band: 'offpeak', days: 'weekdays', from: '22:00', to: '06:00' },
      { band: 'offpeak', days: 'weekends', from: '00:00', to: '24:00' },
    ],
  },
  { id: 'standing', kind: 'fixed', name: 'Standing charge', per: 'day', amountMinor: '500' },
  { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['energy', 'standing'] },
];

const seedStarted = performance.now();
const site = (await sql<{ id: string }>`INSERT INTO sites (code, name, timezone) VALUES ('BENCH', 'Bench estate', 'Africa/Nairobi') RETURNING id`.execute(db)).rows[0]!.id;
const tariff = (await sql<{ id: string }>`INSERT INTO tariffs (name, meter_type, currency) VALUES ('Bench TOU', 'electricity', 'KES') RETURNING id`.execute(db)).rows[0]!.id;
await sql`INSERT INTO tariff_versions (tariff_id, version, effective_from, components)
          VALUES (CAST(${tariff} AS uuid), 1, '2026-01-01T00:00:00Z', CAST(${JSON.stringify(components)} AS jsonb))`.execute(db);
await sql`INSERT INTO site_tariffs (site_id, meter_type, tariff_id) VALUES (CAST(${site} AS uuid), 'electricity', CAST(${tariff} AS uuid))`.execute(db);
await sql`INSERT INTO customers (name) SELECT 'Bench ' || i FROM generate_series(1, ${accounts}) AS i`.execute(db);
await sql`INSERT INTO accounts (customer_id, account_no)
          SELECT id, 'B' || lpad(row_number() OVER (ORDER BY id)::text, 6, '0') FROM customers WHERE name LIKE 'Bench %'`.execute(db);
await sql`SELECT ledger_post(id, 'adjustment', 10000000, 'bench-open:' || id, NULL, NULL, 'bench opening balance', NULL, NULL, 'bench') FROM accounts`.execute(db);
await sql`
  INSERT INTO meters (meter_no, meter_type, unit, site_id, account_id)
  SELECT 'BM' || lpad(i::text, 7, '0'), 'electricity', 'kWh', CAST(${site} AS uuid), a.id
  FROM generate_series(0, ${meters - 1}) AS i
  JOIN (SELECT id, row_number() OVER (ORDER BY account_no) - 1 AS n FROM accounts) a ON a.n = i % ${accounts}`.execute(db);
await sql`INSERT INTO account_meters (account_id, meter_id, valid_from) SELECT account_id, id, '2026-03-01T21:00:00Z' FROM meters WHERE meter_no LIKE 'BM%'`.execute(db);
// 23:50 and 00:05 local (Africa/Nairobi, UTC+3): the baseline run charges 2026-03-02, the timed one 03-03.
const t0 = '2026-03-02T20:50:00Z';
const t1 = '2026-03-02T21:05:00Z';
await sql`INSERT INTO meter_readings (meter_id, source_key, reading_value, reading_date)
          SELECT id, 'bench:1:' || id, 1000 + (abs(hashtext(id::text)) % 5000) / 10.0, CAST(${t0} AS timestamptz) FROM meters WHERE meter_no LIKE 'BM%'`.execute(db);
await sql`ANALYZE meters, meter_readings, accounts, account_meters, billing_state, billing_fixed_state, ledger_entries`.execute(db);
const baselineStarted = performance.now();
const baseline = await runBilling(deps, { trigger: 'manual', now: new Date(t0) });
const baselineSeconds = (performance.now() - baselineStarted) / 1000;
await sql`INSERT INTO meter_readings (meter_id, source_key, reading_value, reading_date)
          SELECT meter_id, 'bench:2:' || meter_id, reading_value + 0.25 + (abs(hashtext(meter_id::text)) % 300) / 100.0, CAST(${t1} AS timestamptz)
          FROM meter_readings WHERE source_key LIKE 'bench:1:%'`.execute(db);
await sql`ANALYZE meters, meter_readings, accounts, account_meters, billing_state, billing_fixed_state, ledger_entries`.execute(db);
const seedSeconds = (performance.now() - seedStarted) / 1000 - baselineSeconds;

const started = performance.now();
const first = await runBilling(deps, { trigger: 'manual', now: new Date(t1) });
const seconds = (performance.now() - started) / 1000;
const secondStarted = performance.now();
const second = await runBilling(deps, { trigger: 'manual', now: new Date(t1) });
const secondSeconds = (performance.now() - secondStarted) / 1000;
const violations = await invariantViolations(db);

console.log(
  JSON.stringify({
    backend: process.env.DATABASE_URL ? 'postgres' : 'pglite',
    meters,
    accounts,
    tariff: 'time-of-use (peak/off-peak, weekday/weekend, Africa/Nairobi) + daily standing charge + VAT 16%',
    seconds: Number(seconds.toFixed(2)),
    metersPerSecond: Math.round(meters / seconds),
    entriesPosted: first.run.entriesPosted,
    amountMinor: first.run.amountMinor,
    fixedEntriesPosted: first.run.fixedEntriesPosted,
    fixedAmountMinor: first.run.fixedAmountMinor,
    runStatus: first.run.status,
    timingsMs: Object.fromEntries(Object.entries(first.timings).map(([k, v]) => [k, Math.round(v)])),
    secondRunEntries: second.run.entriesPosted + second.run.fixedEntriesPosted,
    secondRunSeconds: Number(secondSeconds.toFixed(2)),
    baselineRunSeconds: Number(baselineSeconds.toFixed(2)),
    baselineRunEntries: baseline.run.entriesPosted,
    baselineRunFixedEntries: baseline.run.fixedEntriesPosted,
    seedSeconds: Number(seedSeconds.toFixed(2)),
    invariantViolations: violations.length,
    machine: machine(),
  }),
);
await dispose();
