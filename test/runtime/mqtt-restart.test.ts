// Nothing a QoS 1 publisher sent is lost across a platform restart with a persistent session
// (MQTT_CLIENT_ID): the platform runs as a child process on its own Mosquitto (a private instance on a
// free port, so the test controls the broker and runs with or without MQTT_URL), uplinks of registered
// devices are published while the platform is killed (SIGKILL) or stopped (SIGTERM) mid-stream, it is
// started again, and every uplink the broker acknowledged to the publisher is stored exactly once.
// The embedded broker cannot show this: it dies with the process. Skipped when there is no mosquitto
// binary. PGlite in the data directory, or real PostgreSQL (a schema of its own) when DATABASE_URL is set.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPglite } from '#adapters/db/connect';
import { loadOrCreateKey, localAuth } from '#runtime/auth';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';
import { databaseUrl } from '../support/db.ts';
import { apiClient, type ApiCall } from '../support/http.ts';
import { mosquittoBinary, startMosquitto, type Broker } from '../support/mosquitto.ts';
import { spawnPlatform, type PlatformProcess } from '../support/platform-process.ts';

/** Uplinks per run (small: the point is the kill in the middle, not the load). */
const N = 300;
const METERS = 4;

let broker: (Broker & { dir: string }) | undefined;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (!mosquittoBinary) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'quantify-mosquitto-'));
  broker = { ...(await startMosquitto(dir)), dir };
}, 30_000);

afterAll(async () => {
  if (broker) {
    await broker.stop();
    await rm(broker.dir, { recursive: true, force: true });
  }
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** A data directory (and a PostgreSQL schema when DATABASE_URL is set) for one run. */
async function storage(): Promise<{ env: Record<string, string>; dataDir: string; sourceKeys: () => Promise<string[]> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'quantify-restart-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  if (!databaseUrl) {
    return {
      env: { DATA_DIR: dataDir },
      dataDir,
      sourceKeys: async () => {
        const handle = await openPglite(path.join(dataDir, 'pgdata'));
        try {
          return (await handle.db.selectFrom('meter_readings').select('source_key').execute()).map((r) => r.source_key);
        } finally {
          await handle.close();
        }
      },
    };
  }
  const schema = `mr_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    try {
      return await c.query<{ source_key: string }>(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE SCHEMA ${schema}`);
  cleanups.push(async () => void (await admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)));
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { env: { DATA_DIR: dataDir, DATABASE_URL: url.toString() }, dataDir, sourceKeys: async () => (await admin(`SELECT source_key FROM ${schema}.meter_readings`)).rows.map((r) => r.source_key) };
}

async function running(env: Record<string, string>): Promise<{ platform: PlatformProcess; api: ApiCall }> {
  const platform = spawnPlatform(env);
  cleanups.push(async () => platform.kill());
  const httpUrl = (await platform.waitFor(/HTTP API\s+(http:\/\/\S+)/))[1] ?? '';
  const token = await localAuth(await loadOrCreateKey(env.DATA_DIR ?? ''), 'quantify-local', 'quantify-api').sign('operator');
  return { platform, api: apiClient(httpUrl, () => token) };
}

async function readingsStored(api: ApiCall, meterIds: string[]): Promise<number> {
  let total = 0;
  for (const id of meterIds) total += (await api<{ items: unknown[] }>('GET', `/meters/${id}/readings?limit=500`)).body.items.length;
  return total;
}

/**
 * Publish N uplinks (QoS 1, from a clean-session client like ChirpStack's), stop the platform with
 * `signal` once a third are acknowledged by the broker, keep publishing while it is down, start it again.
 */
async function restartMidStream(signal: 'SIGKILL' | 'SIGTERM') {
  const url = broker?.url ?? '';
  const { env: storageEnv, sourceKeys } = await storage();
  const env = { ...storageEnv, MQTT_URL: url, MQTT_CLIENT_ID: `quantify-restart-${process.pid}-${randomBytes(3).toString('hex')}`, SCHEDULER_ENABLED: 'false' };
  const first = await running(env);
  const meters: { id: string; devEui: string }[] = [];
  for (let i = 0; i < METERS; i++) {
    const devEui = randomEui();
    const res = await first.api<{ id: string }>('POST', '/meters', { meterNo: `R${devEui.slice(0, 10)}`, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui } });
    meters.push({ id: res.body.id, devEui });
  }

  const publisher = await mqtt.connectAsync(url, { clientId: `restart-pub-${process.pid}-${randomBytes(3).toString('hex')}` });
  cleanups.push(() => publisher.endAsync(true));
  const published: string[] = [];
  const acknowledged = new Set<string>();
  let stopped: Promise<string> | undefined;
  const sends: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const meter = meters[i % METERS] as { id: string; devEui: string };
    const key = randomBytes(8).toString('hex');
    published.push(key);
    const body = JSON.stringify(upEvent({ devEui: meter.devEui, fPort: 85, hex: '01755c05c800010000', fCnt: i + 1, deduplicationId: key }));
    sends.push(publisher.publishAsync(upTopic(meter.devEui), body, { qos: 1 }).then(() => void acknowledged.add(key)));
    // A steady stream rather than one burst, so the stop falls in the middle of ingestion.
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 15));
    if (!stopped && acknowledged.size >= N / 3) {
      first.platform.child.kill(signal);
      stopped = first.platform.exited;
    }
  }
  const firstExit = await (stopped ?? first.platform.exited);
  const firstOutput = first.platform.output();
  await Promise.allSettled(sends);

  const second = await running(env);
  const meterIds = meters.map((m) => m.id);
  const until = Date.now() + 90_000;
  while ((await readingsStored(second.api, meterIds)) < acknowledged.size && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
  second.platform.child.kill('SIGTERM');
  const secondExit = await second.platform.exited;

  const keys = await sourceKeys();
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return {
    firstExit,
    firstOutput,
    secondExit,
    published,
    acknowledged: [...acknowledged],
    lost: [...acknowledged].filter((k) => !counts.has(k)),
    doubled: [...counts].filter(([, n]) => n > 1).map(([k]) => k),
    unknown: keys.filter((k) => !published.includes(k)),
  };
}

describe.skipIf(!mosquittoBinary)('persistent MQTT session across restarts (private Mosquitto)', () => {
  it('stores every acknowledged uplink exactly once after a SIGKILL mid-stream', async () => {
    const run = await restartMidStream('SIGKILL');

    expect(run.firstExit).toBe('SIGKILL');
    expect(run.acknowledged).toHaveLength(N);
    expect(run.lost).toEqual([]);
    expect(run.doubled).toEqual([]);
    expect(run.unknown).toEqual([]);
    expect(run.secondExit).toBe('0');
  }, 300_000);

  it('stores every acknowledged uplink exactly once after a SIGTERM mid-stream', async () => {
    const run = await restartMidStream('SIGTERM');

    expect(run.firstExit).toBe('0');
    expect(run.firstOutput).toMatch(/stopped cleanly/);
    expect(run.acknowledged).toHaveLength(N);
    expect(run.lost).toEqual([]);
    expect(run.doubled).toEqual([]);
    expect(run.unknown).toEqual([]);
    expect(run.secondExit).toBe('0');
  }, 300_000);
});

describe.skipIf(Boolean(mosquittoBinary))('persistent MQTT session across restarts', () => {
  it.skip('needs a mosquitto binary (on PATH or in /usr/sbin) to run a private broker the platform can restart against', () => undefined);
});
