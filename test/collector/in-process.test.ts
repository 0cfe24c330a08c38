// COLLECTOR_ENABLED: the collector inside the platform (one-box installation) posts to the platform's own
// API with a collector token the platform signs, and the readings appear like any other.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectorConfig } from '../../functions/collector/config.ts';
import { startSdm630Simulator, type Sdm630Simulator } from '#runtime/sdm630-sim';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe('collector inside npm start', () => {
  let sim: Sdm630Simulator;
  let platform: TestPlatform;
  let bufferDir: string;
  const meterNo = `INP-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    sim = await startSdm630Simulator({ meters: [{ slaveId: 5, model: 'SDM320C' }] });
    bufferDir = await mkdtemp(path.join(tmpdir(), 'quantify-inprocess-buffer-'));
    // The collector's own variables, as main.ts reads them when COLLECTOR_ENABLED=true.
    const collector = collectorConfig({
      MODBUS_HOST: sim.host, MODBUS_PORT: String(sim.port), METER_IDS: `5:${meterNo}`, METER_MODEL: 'SDM320C', POLL_INTERVAL: '0.2',
      COLLECTOR_BUFFER_DIR: bufferDir, COLLECTOR_STATUS_PORT: 'off', COLLECTOR_QUIET: 'true',
    });
    platform = await startTestPlatform({ COLLECTOR_ENABLED: 'true' }, { platform: { collector } });
  }, 180_000);
  afterAll(async () => {
    await platform?.dispose();
    await sim?.stop();
    await rm(bufferDir, { recursive: true, force: true });
  });

  it('posts the meter\'s readings to the platform it runs in, once the meter is registered', async () => {
    const operator = await platform.token('operator');
    const headers = { authorization: `Bearer ${operator}`, 'content-type': 'application/json' };
    await fetch(`${platform.httpUrl}/meters`, { method: 'POST', headers, body: JSON.stringify({ meterNo, meterType: 'electricity', device: { deviceType: 'sdm630_modbus_tcp', model: 'SDM320C', config: { slaveId: 5 } } }) });

    let items: Record<string, unknown>[] = [];
    for (let i = 0; i < 200 && items.length === 0; i++) {
      await platform.collector!.nextCycles();
      items = ((await (await fetch(`${platform.httpUrl}/readings/${meterNo}`, { headers })).json()) as { items: Record<string, unknown>[] }).items;
    }

    expect(items[0]).toMatchObject({ meterNo, extra: { model: 'SDM320C', slaveId: 5, postedBy: 'collector-in-process' } });
    expect(platform.describe().some((l) => l.startsWith('Collector'))).toBe(true);
  }, 120_000);
});
