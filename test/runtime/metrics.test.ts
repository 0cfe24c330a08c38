// GET /metrics on the local runtime: Prometheus text behind a bearer token of any role, whose counters
// move as messages are ingested and quarantined, with meters by communication status from the store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';

let platform: TestPlatform;
let publisher: MqttClient;
let api: ApiCall;

beforeAll(async () => {
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5' });
  publisher = await mqtt.connectAsync(platform.mqttUrl, { clientId: `chirpstack-metrics-${Date.now()}`, ...platform.mqttAuth('chirpstack') });
  const token = await platform.token('operator');
  api = apiClient(platform.httpUrl, () => token);
});
afterAll(async () => {
  await publisher.endAsync();
  await platform.dispose();
});

async function scrape(role: Parameters<TestPlatform['token']>[0] = 'viewer'): Promise<string> {
  const res = await fetch(`${platform.httpUrl}/metrics`, { headers: { authorization: `Bearer ${await platform.token(role)}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

/** The value of one sample line (`name{labels} value`), 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('GET /metrics', () => {
  it('asks for a bearer token', async () => {
    expect((await fetch(`${platform.httpUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${platform.httpUrl}/metrics`, { headers: { authorization: 'Bearer nonsense' } })).status).toBe(401);
  });

  it('counts an ingested uplink, a quarantined one, and shows meters by status', async () => {
    const before = await scrape();
    const devEui = randomEui();
    await api('POST', '/meters', { meterNo: `M${devEui.slice(0, 8)}`, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui } });

    await publisher.publishAsync(upTopic(devEui), JSON.stringify(upEvent({ devEui, fPort: 85, hex: '01755c05c800010000', fCnt: 1 })), { qos: 1 });
    const unknown = randomEui();
    await publisher.publishAsync(upTopic(unknown), JSON.stringify(upEvent({ devEui: unknown, fPort: 85, hex: '01755c05c800010000', fCnt: 1 })), { qos: 1 });

    const after = await eventually('both uplinks counted', async () => {
      const text = await scrape();
      return sample(text, 'quantify_ingest_messages_total{kind="uplink"}') >= sample(before, 'quantify_ingest_messages_total{kind="uplink"}') + 2 ? text : undefined;
    });
    expect(sample(after, 'quantify_ingest_quarantined_total')).toBeGreaterThanOrEqual(sample(before, 'quantify_ingest_quarantined_total') + 1);
    expect(after).toContain('# TYPE quantify_command_dispatch_latency_seconds histogram');
    const meters = ['online', 'offline', 'unknown'].reduce((sum, status) => sum + sample(after, `quantify_meters{status="${status}"}`), 0);
    expect(meters).toBeGreaterThanOrEqual(1);
  });
});
