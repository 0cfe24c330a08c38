// `npm run bench:commands`: the command dispatcher draining device commands on the local platform
// against the built-in ChirpStack simulator (loopback HTTP, the real ChirpStack client).
// Starts the platform in this process (PGlite by default; DATABASE_URL for real PostgreSQL, in a schema
// of its own; MQTT_URL for an external broker), registers BENCH_COMMANDS devices (half UC100 relays, half
// Busylight displays) and stores one pending command for each, straight in the database, then:
//   1. burst: all of them enqueued at once → commands/s drained (claimed, sent, recorded);
//   2. paced: BENCH_PACED_COUNT more at BENCH_PACED_RATE/s → enqueue-to-ChirpStack latency p50/p99 when
//      the dispatcher keeps up.
// Latency is sent_at (the start of the successful ChirpStack enqueue call, one loopback round trip before
// its answer) minus the moment the id was enqueued.
import { sql } from 'kysely';
import { enqueueCommands } from '#app/commands/enqueue';
import { displayDownlink, relayDownlink } from '#domain/commands';
import { deviceProfiles } from '#domain/device-profiles';
import { machine, startBenchPlatform } from './support.ts';

const burstCount = Number(process.env.BENCH_COMMANDS ?? 10_000);
const pacedCount = Number(process.env.BENCH_PACED_COUNT ?? 3_000);
const pacedRate = Number(process.env.BENCH_PACED_RATE ?? 500);
const target = 1_000;

const { platform, dispose } = await startBenchPlatform('commands', { CHIRPSTACK_API_URL: '' });
const db = platform.db.db;

const relay = relayDownlink(deviceProfiles.milesight_uc100.defaultConfig, 'off');
const display = displayDownlink(deviceProfiles.kuando_busylight.defaultConfig, 'OCCUPIED');

/** `count` devices (alternately UC100 and Busylight) with one pending command each, in two statements. */
async function seed(prefix: string, count: number): Promise<string[]> {
  await sql`
    INSERT INTO devices (kind, dev_eui, device_type, decoder, capabilities, config, lifecycle)
    SELECT 'lorawan', ${prefix} || lpad(to_hex(i), 12, '0'),
           CASE WHEN i % 2 = 0 THEN 'milesight_uc100' ELSE 'kuando_busylight' END,
           CASE WHEN i % 2 = 0 THEN 'milesight_uc100' ELSE 'kuando_busylight' END,
           CASE WHEN i % 2 = 0 THEN ${JSON.stringify(deviceProfiles.milesight_uc100.capabilities)}::jsonb ELSE ${JSON.stringify(deviceProfiles.kuando_busylight.capabilities)}::jsonb END,
           CASE WHEN i % 2 = 0 THEN ${JSON.stringify(deviceProfiles.milesight_uc100.defaultConfig)}::jsonb ELSE ${JSON.stringify(deviceProfiles.kuando_busylight.defaultConfig)}::jsonb END,
           'active'
    FROM generate_series(0, ${count - 1}) AS i`.execute(db);
  const rows = await sql<{ id: string }>`
    INSERT INTO device_commands (device_id, device_eui, command_type, payload_hex, f_port, confirmed, priority, idempotency_key, expires_at, requested_by)
    SELECT d.id, d.dev_eui,
           CASE WHEN d.device_type = 'milesight_uc100' THEN 'relay_off' ELSE 'display' END,
           CASE WHEN d.device_type = 'milesight_uc100' THEN ${relay.payloadHex} ELSE ${display.payloadHex} END,
           CASE WHEN d.device_type = 'milesight_uc100' THEN ${relay.fPort}::int ELSE ${display.fPort}::int END,
           false, 5, 'bench:' || d.dev_eui, now() + interval '1 day', 'bench'
    FROM devices d
    WHERE d.dev_eui LIKE ${`${prefix}%`}
    ORDER BY d.dev_eui
    RETURNING id`.execute(db);
  return rows.rows.map((r) => r.id);
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function latencies(enqueuedAt: Map<string, number>): Promise<{ sent: number; ms: number[] }> {
  const rows = await sql<{ id: string; sent_at: Date | null }>`
    SELECT id, sent_at FROM device_commands WHERE id IN (SELECT (value)::uuid FROM jsonb_array_elements_text(CAST(${JSON.stringify([...enqueuedAt.keys()])} AS jsonb)))`.execute(db);
  const ms = rows.rows.flatMap((r) => (r.sent_at ? [r.sent_at.getTime() - (enqueuedAt.get(r.id) ?? NaN)] : [])).sort((a, b) => a - b);
  return { sent: ms.length, ms };
}

const queue = platform.commands.queue;
const deps = platform.commands.deps;
let exitCode = 0;
try {
  // 1. Burst.
  const burstIds = await seed('bc01', burstCount);
  const burstAt = new Map<string, number>();
  const started = performance.now();
  const t0 = Date.now();
  for (const id of burstIds) burstAt.set(id, t0);
  await enqueueCommands(deps, burstIds);
  await queue.idle(300_000);
  const seconds = (performance.now() - started) / 1000;
  const burst = await latencies(burstAt);

  // 2. Paced.
  const pacedIds = await seed('bc02', pacedCount);
  const pacedAt = new Map<string, number>();
  const perTick = Math.max(1, Math.round(pacedRate / 100));
  const pacedStart = Date.now();
  for (let i = 0; i < pacedIds.length; i += perTick) {
    const due = pacedStart + (i / pacedRate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const slice = pacedIds.slice(i, i + perTick);
    const now = Date.now();
    for (const id of slice) pacedAt.set(id, now);
    await enqueueCommands(deps, slice);
  }
  await queue.idle(300_000);
  const paced = await latencies(pacedAt);

  const counters = platform.commands.simulator?.counters;
  const rate = burst.sent / seconds;
  console.log(
    [
      'bench:commands',
      `  machine   ${machine()}`,
      `  backend   ${platform.db.driver === 'pglite' ? 'pglite (embedded)' : 'postgres (DATABASE_URL)'}; ChirpStack simulator at ${platform.commands.chirpstackUrl}`,
      `  burst     ${burst.sent}/${burstCount} commands sent in ${seconds.toFixed(2)} s = ${Math.round(rate)} commands/s (target >= ${target})`,
      `            enqueue-to-ChirpStack latency p50 ${percentile(burst.ms, 50)} ms, p99 ${percentile(burst.ms, 99)} ms (all enqueued at once)`,
      `  paced     ${paced.sent}/${pacedCount} commands at ${pacedRate}/s: enqueue-to-ChirpStack latency p50 ${percentile(paced.ms, 50)} ms, p99 ${percentile(paced.ms, 99)} ms`,
      `  simulator ${counters?.enqueued ?? '?'} queue items accepted (one per command: nothing sent twice)`,
    ].join('\n'),
  );
  if (burst.sent !== burstCount || paced.sent !== pacedCount || (counters && counters.enqueued !== burstCount + pacedCount)) {
    console.error('bench:commands: not every command was sent exactly once');
    exitCode = 1;
  } else if (rate < target) {
    console.error(`bench:commands: below the target of ${target} commands/s`);
    exitCode = 1;
  }
} finally {
  await dispose();
}
process.exit(exitCode);
