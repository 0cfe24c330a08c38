// The whole local platform while its PostgreSQL misbehaves, reached through a loopback proxy: backends
// terminated (pg_terminate_backend, as a restart or failover does), the database down (connections cut
// and refused), a silent partition. The process keeps running, /health says what is true within seconds,
// readings published meanwhile are stored once the database is back, and a due relay command is
// dispatched after the partition heals. Real PostgreSQL only: PGlite has no connections to kill.
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';
import { databaseUrl } from '../support/db.ts';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const appName = `quantify-dbfaults-${randomBytes(4).toString('hex')}`;
const schema = `f_${randomBytes(6).toString('hex')}`;
let proxy: TcpProxy;
let admin: pg.Client;
let platform: TestPlatform;
let publisher: MqttClient;
let api: ApiCall;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function health(): Promise<{ status: number; database: string }> {
  const res = await fetch(`${platform.httpUrl}/health`);
  const body = (await res.json()) as { checks: { database: string } };
  return { status: res.status, database: body.checks.database };
}

const healthIs = (status: number) => async () => {
  const h = await health();
  return h.status === status ? h : undefined;
};

/** Terminate the platform's backends (found by its application_name); how many there were. */
async function terminateOurBackends(): Promise<number> {
  const r = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [appName]);
  return r.rows.filter((row) => row.ok).length;
}

/** An EM300-DI uplink carrying `pulses` (its counter, little-endian). */
async function publishReading(devEui: string, fCnt: number, pulses: number): Promise<void> {
  const counter = Buffer.alloc(4);
  counter.writeUInt32LE(pulses);
  const time = new Date(Date.now() - 60_000 + fCnt * 100);
  await publisher.publishAsync(upTopic(devEui), JSON.stringify(upEvent({ devEui, fPort: 85, hex: `01755c05c8${counter.toString('hex')}`, fCnt, time })), { qos: 1 });
}

async function pulseMeter(prefix: string): Promise<{ id: string; devEui: string }> {
  const devEui = randomEui();
  const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `${prefix}${devEui.slice(0, 9)}`, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui } });
  expect(meter.status).toBe(201);
  return { id: meter.body.id, devEui };
}

const storedCount = (meterId: string, count: number) => async () => {
  const r = await api<{ items: { pulseCount: number }[] }>('GET', `/meters/${meterId}/readings?limit=100`);
  return r.status === 200 && r.body.items.length >= count ? r.body.items : undefined;
};

describe.skipIf(!databaseUrl)('the platform under database faults (real PostgreSQL; skipped without DATABASE_URL: PGlite has no connections to kill)', () => {
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: databaseUrl });
    admin.on('error', () => undefined);
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const target = new URL(databaseUrl!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(proxy.url(databaseUrl!));
    url.searchParams.set('options', `-c search_path=${schema}`);
    url.searchParams.set('application_name', appName);
    platform = await startTestPlatform(
      {
        DATABASE_URL: url.toString(),
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
        DATABASE_STATEMENT_TIMEOUT_MS: '1000',
        DATABASE_HEALTH_TIMEOUT_MS: '500',
        INGEST_BATCH_WINDOW_MS: '5',
        SCHEDULER_ENABLED: 'false',
      },
      { schema },
    );
    publisher = await mqtt.connectAsync(platform.mqttUrl, { clientId: `dbfaults-${randomBytes(4).toString('hex')}`, ...platform.mqttAuth() });
    const token = await platform.token('operator');
    api = apiClient(platform.httpUrl, () => token);
  });
  afterAll(async () => {
    proxy?.heal();
    proxy?.refuse(false);
    await publisher?.endAsync();
    await platform?.dispose();
    await proxy?.close();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });
  afterEach(() => {
    proxy.heal();
    proxy.refuse(false);
  });

  it('keeps running and storing readings while its backends are terminated', async () => {
    const meter = await pulseMeter('T');

    let terminated = 0;
    for (let i = 1; i <= 6; i++) {
      await publishReading(meter.devEui, i, i * 100);
      if (i % 2 === 0) terminated += await terminateOurBackends();
    }

    const stored = await eventually('all six readings stored', storedCount(meter.id, 6), 20_000);
    expect(terminated).toBeGreaterThan(0);
    expect(stored).toHaveLength(6);
    await eventually('healthy', healthIs(200), 10_000);
  });

  it('reports the database down within seconds while it is down, and up again when it returns', async () => {
    await eventually('healthy first', healthIs(200), 10_000);

    proxy.refuse(true);
    proxy.terminateAll();
    const down = await eventually('health reports the database down', healthIs(503), 10_000);
    proxy.refuse(false);
    const up = await eventually('health reports the database up again', healthIs(200), 15_000);

    expect(down.database).toBe('unreachable');
    expect(up.database).toBe('ok');
  });

  it('reports a silent partition as down and recovers after it heals', async () => {
    await eventually('healthy first', healthIs(200), 10_000);

    proxy.partition();
    const down = await eventually('health reports the partitioned database down', healthIs(503), 10_000);
    proxy.heal();
    const up = await eventually('health reports the database up again', healthIs(200), 15_000);

    expect(down.database).toBe('unreachable');
    expect(up.database).toBe('ok');
  });

  it('stores readings published while the database is down and after it is back', async () => {
    const meter = await pulseMeter('D');
    await publishReading(meter.devEui, 1, 100);
    await eventually('first reading stored', storedCount(meter.id, 1), 10_000);

    proxy.refuse(true);
    proxy.terminateAll();
    for (let i = 2; i <= 4; i++) await publishReading(meter.devEui, i, i * 100);
    await eventually('health reports the database down', healthIs(503), 10_000);
    proxy.refuse(false);
    for (let i = 5; i <= 6; i++) await publishReading(meter.devEui, i, i * 100);

    const stored = await eventually('all six readings stored', storedCount(meter.id, 6), 30_000);
    expect(stored.map((r) => r.pulseCount).sort((a, b) => a - b)).toEqual([100, 200, 300, 400, 500, 600]);
  });

  it('dispatches a relay command that came due while the database was partitioned once the partition heals', async () => {
    const devEui = randomEui();
    const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `P${devEui.slice(0, 9)}`, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });
    const dueAt = new Date(Date.now() + 1_000);
    const requested = await api<{ id: string; status: string }>('POST', `/meters/${meter.body.id}/relay`, { action: 'off', reason: 'db fault test', scheduledAt: dueAt.toISOString() });
    expect(requested.status).toBe(202);

    proxy.partition();
    await sleep(Math.max(0, dueAt.getTime() - Date.now()) + 50);
    // What the sweeper does for a command that came due; the dispatch fails while the partition lasts.
    await platform.commands.queue.enqueue([requested.body.id]);
    await eventually('health reports the partitioned database down', healthIs(503), 10_000);
    await sleep(2_500);
    // Both ends gave up on the partitioned connections (a statement held by the partition must not run
    // late under a claim nobody holds any more); then the way to the database is back.
    proxy.terminateAll();
    proxy.heal();

    const sent = await eventually(
      'command sent',
      async () => {
        const r = await api<{ status: string }>('GET', `/commands/${requested.body.id}`);
        return r.body.status === 'sent' || r.body.status === 'confirmed' ? r.body : undefined;
      },
      20_000,
    );
    expect(sent.status).toBe('sent');
  });

  it('completes a relay request made during a short partition once it heals, and dispatches it', async () => {
    const devEui = randomEui();
    const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `S${devEui.slice(0, 9)}`, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });

    proxy.partition();
    const request = api<{ id: string; status: string }>('POST', `/meters/${meter.body.id}/relay`, { action: 'on', reason: 'db fault test' });
    await sleep(300);
    proxy.heal();
    const requested = await request;

    expect(requested.status).toBe(202);
    const sent = await eventually(
      'command sent',
      async () => {
        const r = await api<{ status: string }>('GET', `/commands/${requested.body.id}`);
        return r.body.status === 'sent' ? r.body : undefined;
      },
      20_000,
    );
    expect(sent.status).toBe('sent');
  });
});
