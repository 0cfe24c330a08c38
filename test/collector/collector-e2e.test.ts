// End to end: the SDM630 gateway simulator → the collector (Modbus TCP, its on-disk buffer, HTTP with a
// collector token) → the platform (PGlite, or PostgreSQL with DATABASE_URL) → readings through the API.
// Then the platform is stopped: the collector buffers, is itself restarted on the same buffer, and when
// the platform is back every polled reading is stored exactly once, in order.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../functions/collector/collector.ts';
import type { CollectorConfig } from '../../functions/collector/config.ts';
import { startSdm630Simulator, type Sdm630Simulator } from '#runtime/sdm630-sim';
import { databaseUrl } from '../support/db.ts';
import { freePort } from '../support/mosquitto.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

const silentLog = () => undefined;

/** Wait for a condition the system reaches by itself (bounded, so a broken system fails the test). */
async function until(what: string, check: () => Promise<boolean> | boolean, attempts = 1200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

describe('collector end to end', () => {
  let platform: TestPlatform | undefined;
  let sim: Sdm630Simulator;
  let collector: Collector | undefined;
  let bufferDir: string;
  let dataDir: string;
  const schema = databaseUrl ? `p_${randomBytes(6).toString('hex')}` : undefined;
  let port: number;
  const meterNos = [1, 2, 3, 4].map((i) => `SDM-${randomBytes(3).toString('hex')}-${i}`);
  let token: string;
  let operator: string;

  const startPlatform = async () => {
    platform = await startTestPlatform({ PORT: String(port) }, { dataDir, ...(schema ? { schema } : {}) });
  };
  const config = (): CollectorConfig => ({
    gateways: [{
      host: sim.host, port: sim.port, protocol: 'tcp', pollIntervalS: 0.25, timeoutMs: 150, retries: 1, maxBackoffS: 0.5,
      meters: meterNos.map((meterId, i) => ({ slaveId: i + 1, meterId, model: 'SDM630' as const })),
    }],
    apiBaseUrl: `http://127.0.0.1:${port}`, apiTimeoutMs: 5_000, token, clientCredentials: undefined, bufferDir, bufferMaxReadings: 100_000, batchSize: 200,
    statusHost: '127.0.0.1', statusPort: 0, quiet: true,
  });
  const api = async (pathAndQuery: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { headers: { authorization: `Bearer ${operator}` } });
    return (await res.json()) as Record<string, unknown>;
  };
  const readingsOf = async (meterNo: string) => (await api(`/readings/${meterNo}?limit=5000`)).items as Record<string, unknown>[];

  beforeAll(async () => {
    port = await freePort();
    dataDir = await mkdtemp(path.join(tmpdir(), 'quantify-collector-platform-'));
    bufferDir = await mkdtemp(path.join(tmpdir(), 'quantify-collector-buffer-'));
    await startPlatform();
    token = await platform!.token('collector');
    operator = await platform!.token('operator');
    for (const [i, meterNo] of meterNos.entries()) {
      const res = await fetch(`http://127.0.0.1:${port}/meters`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ meterNo, meterType: 'electricity', device: { deviceType: 'sdm630_modbus_tcp', config: { slaveId: i + 1 } } }),
      });
      expect(res.status).toBe(201);
    }
    sim = await startSdm630Simulator({ meters: [1, 2, 3, 4].map((slaveId) => ({ slaveId })), silentSlaveIds: [4] });
  }, 180_000);

  afterAll(async () => {
    await collector?.stop();
    await sim?.stop();
    await platform?.dispose();
    await rm(bufferDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  it('makes SDM630 readings appear through the API while a silent meter is backed off', async () => {
    collector = await startCollector(config(), { log: silentLog });

    await until('three meters have readings', async () => (await Promise.all(meterNos.slice(0, 3).map(readingsOf))).every((r) => r.length >= 2));

    const [first] = await readingsOf(meterNos[0]!);
    expect(first).toMatchObject({ meterNo: meterNos[0], extra: { model: 'SDM630', slaveId: 1 } });
    expect(Number(first?.voltage)).toBeGreaterThan(200);
    expect(Number(first?.energyImport)).toBeGreaterThan(1000);
    const meter = await api(`/meters?limit=500`);
    const online = (meter.items as Record<string, unknown>[]).filter((m) => meterNos.includes(String(m.meterNo))).map((m) => [m.meterNo, m.communicationStatus]);
    expect(online).toEqual(expect.arrayContaining([[meterNos[0], 'online'], [meterNos[1], 'online'], [meterNos[2], 'online']]));
    const status = (await (await fetch(`${collector.statusUrl}/status`)).json()) as { gateways: { meters: { slaveId: number; state: string }[] }[] };
    expect(status.gateways[0]?.meters.map((m) => [m.slaveId, m.state])).toEqual([[1, 'ok'], [2, 'ok'], [3, 'ok'], [4, 'failing']]);
  }, 120_000);

  it('buffers on disk while the platform is down, across a collector restart, and replays without loss or duplicates', async () => {
    await platform!.stop();
    platform = undefined;
    await until('the collector notices', () => collector!.status().upload.platformReachable === false);
    await collector!.nextCycles();
    await collector!.nextCycles();
    // The silent meter comes back while the platform is away: it is probed again and read.
    sim.setSilent(4, false);
    await until('meter 4 is read again', () => collector!.status().gateways[0]!.meters[3]!.state === 'ok');
    const before = collector!.status();
    expect(before.buffer.readings).toBeGreaterThan(0);
    await collector!.stop();
    const polledByFirst = before.gateways[0]!.meters.map((m) => m.readings);

    collector = await startCollector(config(), { log: silentLog });
    expect(collector.status().buffer.readings).toBeGreaterThanOrEqual(before.buffer.readings);
    await collector.nextCycles();
    await startPlatform();
    await until('the buffer is replayed', () => collector!.status().upload.platformReachable === true && collector!.status().buffer.readings === 0);
    await collector.stop();
    const polledBySecond = collector.status().gateways[0]!.meters.map((m) => m.readings);
    collector = undefined;

    for (const [i, meterNo] of meterNos.entries()) {
      const stored = await readingsOf(meterNo);
      // Every reading the collectors polled is stored once: same count, distinct times.
      expect(stored.length).toBe(polledByFirst[i]! + polledBySecond[i]!);
      expect(new Set(stored.map((r) => r.readingDate)).size).toBe(stored.length);
      // Oldest first, the counter never goes down.
      const values = stored.map((r) => Number(r.readingValue)).reverse();
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  }, 180_000);
});
