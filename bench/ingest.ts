// `npm run bench:ingest`: end-to-end ingestion throughput and latency on the local platform.
// Starts the platform in this process (PGlite by default; DATABASE_URL for real PostgreSQL, in a schema
// of its own; MQTT_URL for an external broker, else the embedded one), registers EM300-DI meters, then a
// separate publisher process sends ChirpStack uplinks over MQTT:
//   1. sustained: BENCH_COUNT uplinks offered at BENCH_RATE/s → uplinks/s decoded and committed;
//   2. paced: BENCH_PACED_RATE uplinks/s for BENCH_PACED_SECONDS → latency p50/p99 (publish → commit).
// Latency is received_at (the commit's now()) minus the event time the publisher stamped.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { sql } from 'kysely';
import { createMeter } from '#app/registry/registry';
import { machine, startBenchPlatform } from './support.ts';

const devices = Number(process.env.BENCH_DEVICES ?? 1000);
const count = Number(process.env.BENCH_COUNT ?? 60_000);
// Offered load for the sustained run. Unbounded publishing only measures how fast the broker drops
// QoS 0 messages for a slower subscriber; a fixed rate above the target measures what is kept up with.
const sustainedRate = Number(process.env.BENCH_RATE ?? 12_000);
const pacedRate = Number(process.env.BENCH_PACED_RATE ?? 2000);
const pacedSeconds = Number(process.env.BENCH_PACED_SECONDS ?? 10);
const root = path.resolve(import.meta.dirname, '..');

const { platform, config, dispose } = await startBenchPlatform('ingest');
const db = platform.db.db;

try {
  const actor = { principal: { subject: 'bench', roles: ['admin' as const] } };
  const devEuis: string[] = [];
  for (let i = 0; i < devices; i++) {
    const devEui = `be${i.toString(16).padStart(14, '0')}`;
    await createMeter(db, { meterNo: `BENCH${i}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_em300_di', devEui, lifecycle: 'active' } }, actor, new Date());
    devEuis.push(devEui);
  }

  const total = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM meter_readings`.execute(db)).rows[0]?.n ?? 0);
  const publish = (n: number, rate: number) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench/publisher.ts')], {
        cwd: root,
        env: {
          ...process.env,
          ...(platform.mqttLogins.chirpstack ? { BENCH_MQTT_USERNAME: platform.mqttLogins.chirpstack.username, BENCH_MQTT_PASSWORD: platform.mqttLogins.chirpstack.password } : {}),
          BENCH_MQTT_URL: platform.mqttUrl,
          BENCH_COUNT: String(n),
          BENCH_RATE: String(rate),
          BENCH_DEVEUIS: devEuis.join(','),
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`publisher exited ${code}`))));
    });
  const waitFor = async (target: number, timeoutMs: number) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const n = await total();
      if (n >= target) return n;
      if (Date.now() > until) return n;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const latency = async (since: Date) => {
    const r = await sql<{ p50: number; p99: number; max: number; first: Date; last: Date; n: number }>`
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - reading_date)) * 1000 AS p50,
             percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - reading_date)) * 1000 AS p99,
             max(extract(epoch FROM received_at - reading_date)) * 1000 AS max,
             min(reading_date) AS first, max(received_at) AS last, count(*)::int AS n
      FROM meter_readings WHERE reading_date >= ${since}`.execute(db);
    return r.rows[0]!;
  };

  // 1. Sustained throughput.
  const before = await total();
  const t0 = new Date();
  await publish(count, sustainedRate);
  const stored = (await waitFor(before + count, 120_000)) - before;
  const sustained = await latency(t0);
  const seconds = (sustained.last.getTime() - sustained.first.getTime()) / 1000;

  // 2. Latency at a paced rate.
  const before2 = await total();
  const t1 = new Date();
  await publish(pacedRate * pacedSeconds, pacedRate);
  const stored2 = (await waitFor(before2 + pacedRate * pacedSeconds, 60_000)) - before2;
  const paced = await latency(t1);

  const report = {
    machine: machine(),
    backend: platform.db.describe,
    broker: platform.broker ? 'embedded aedes' : platform.mqttUrl,
    devices,
    batch: `${config.INGEST_BATCH_SIZE} max, ${config.INGEST_BATCH_WINDOW_MS} ms window`,
    sustained: { offeredPerSecond: sustainedRate, published: count, stored, seconds: +seconds.toFixed(2), uplinksPerSecond: Math.round(stored / seconds), p50ms: Math.round(sustained.p50), p99ms: Math.round(sustained.p99) },
    paced: { rate: pacedRate, seconds: pacedSeconds, stored: stored2, p50ms: Math.round(paced.p50), p99ms: Math.round(paced.p99), maxMs: Math.round(paced.max) },
  };
  console.log(JSON.stringify(report, null, 2));
  if (stored < count || stored2 < pacedRate * pacedSeconds) console.log(`WARNING: not every uplink was stored (${stored}/${count}, ${stored2}/${pacedRate * pacedSeconds})`);
} finally {
  await dispose();
}
