// The collector's configuration (the seed's variables, a file for several gateways) and how its sender
// treats the platform's answers: stored → deleted, unreachable or refused credential → kept, malformed → set aside.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskBuffer } from '../../functions/collector/buffer.ts';
import { collectorConfig, CollectorConfigError } from '../../functions/collector/config.ts';
import { Sender, type PostAnswer } from '../../functions/collector/sender.ts';

describe('collector configuration', () => {
  it('takes the seed\'s variables for one gateway (the seed posts slave ids as meter ids)', () => {
    const config = collectorConfig({ MODBUS_HOST: '192.168.1.100', MODBUS_PORT: '502', API_BASE_URL: 'http://localhost:8000/', API_TIMEOUT: '30', POLL_INTERVAL: '60', METER_IDS: '1,2,3' });

    expect(config.gateways).toEqual([expect.objectContaining({ host: '192.168.1.100', port: 502, protocol: 'tcp', pollIntervalS: 60, meters: [
      { slaveId: 1, meterId: '1', model: 'SDM630' }, { slaveId: 2, meterId: '2', model: 'SDM630' }, { slaveId: 3, meterId: '3', model: 'SDM630' },
    ] })]);
    expect(config).toMatchObject({ apiBaseUrl: 'http://localhost:8000', apiTimeoutMs: 30_000 });
  });

  it('maps slave ids to meter numbers and reads several gateways from COLLECTOR_CONFIG', () => {
    const single = collectorConfig({ MODBUS_HOST: 'gw', METER_IDS: '1:MTR-001,7:MTR-007', METER_MODEL: 'SDM320C', MODBUS_PROTOCOL: 'rtu-over-tcp' });
    const file = JSON.stringify({ gateways: [
      { host: 'a', meters: [{ slaveId: 1, meterId: 'A1' }] },
      { host: 'b', port: 4196, pollIntervalS: 10, meters: [{ slaveId: 2, meterId: 'B2', model: 'SDM320C' }] },
    ] });
    const several = collectorConfig({ COLLECTOR_CONFIG: '/etc/collector.json' }, () => file);

    expect(single.gateways[0]).toMatchObject({ protocol: 'rtu-over-tcp', meters: [{ slaveId: 1, meterId: 'MTR-001', model: 'SDM320C' }, { slaveId: 7, meterId: 'MTR-007', model: 'SDM320C' }] });
    expect(several.gateways.map((g) => [g.host, g.port, g.pollIntervalS, g.meters[0]?.meterId])).toEqual([['a', 502, 60, 'A1'], ['b', 4196, 10, 'B2']]);
  });

  it('stops with a message naming what is wrong', () => {
    expect(() => collectorConfig({ METER_IDS: '1' })).toThrow(/MODBUS_HOST/);
    expect(() => collectorConfig({ MODBUS_HOST: 'gw', METER_IDS: '1,x' })).toThrow(CollectorConfigError);
    expect(() => collectorConfig({ MODBUS_HOST: 'gw', METER_IDS: '1,1' })).toThrow(/listed twice/);
    expect(() => collectorConfig({ MODBUS_HOST: 'gw', METER_IDS: '300' })).toThrow(/slaveId/);
  });
});

describe('collector sender', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'quantify-sender-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sending = async (answers: (PostAnswer | Error)[]) => {
    const buffer = await DiskBuffer.open(dir, 1000);
    await buffer.append([{ n: 1 }]);
    await buffer.append([{ n: 2 }]);
    const posted: unknown[][] = [];
    const sender = new Sender(buffer, async (readings) => {
      posted.push(readings);
      const answer = answers.shift();
      if (!answer) throw new Error('no answer scripted');
      if (answer instanceof Error) throw answer;
      return answer;
    }, 1, () => undefined);
    return { buffer, sender, posted };
  };

  it('keeps the oldest batch while the platform is unreachable, answers 503 or refuses the credential, then sends it first', async () => {
    const { buffer, sender, posted } = await sending([new Error('fetch failed'), { status: 503, body: '' }, { status: 401, body: '' }, { status: 200, body: '{}' }, { status: 200, body: '{}' }]);

    const outcomes = [];
    for (let i = 0; i < 6; i++) outcomes.push(await sender.sendOnce());

    expect(outcomes).toEqual(['retry', 'retry', 'retry', 'ok', 'ok', 'empty']);
    expect(posted).toEqual([[{ n: 1 }], [{ n: 1 }], [{ n: 1 }], [{ n: 1 }], [{ n: 2 }]]);
    expect(sender.status).toMatchObject({ platformReachable: true, postedReadings: 2 });
    expect(buffer.stats().readings).toBe(0);
  });

  it('sets a batch the platform calls malformed aside and goes on with the next', async () => {
    const { buffer, sender, posted } = await sending([{ status: 400, body: '{"title":"invalid body"}' }, { status: 200, body: '{}' }]);

    await sender.sendOnce();
    await sender.sendOnce();

    expect(posted).toEqual([[{ n: 1 }], [{ n: 2 }]]);
    expect(buffer.stats()).toMatchObject({ readings: 0, rejectedFiles: 1 });
  });
});
