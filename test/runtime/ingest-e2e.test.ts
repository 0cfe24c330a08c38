// Ingestion end to end on the local runtime: uplinks published to the broker (embedded, or Mosquitto at
// MQTT_URL) show up through the HTTP API; unknown devices land in quarantine; the HTTP integration feeds
// the same path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';

let platform: TestPlatform;
let publisher: MqttClient;
let token: string;
let api: ApiCall;
const integrationToken = 'integration-token-0123456789';

beforeAll(async () => {
  platform = await startTestPlatform({ CHIRPSTACK_HTTP_INTEGRATION_TOKEN: integrationToken, INGEST_BATCH_WINDOW_MS: '5' });
  publisher = await mqtt.connectAsync(platform.mqttUrl, { clientId: `chirpstack-test-${Date.now()}`, ...platform.mqttAuth('chirpstack') });
  token = await platform.token('operator');
  api = apiClient(platform.httpUrl, () => token);
});
afterAll(async () => {
  await publisher.endAsync();
  await platform.dispose();
});



describe('local ingestion', () => {
  it('shows a published EM300-DI uplink as a reading through the API', async () => {
    const devEui = randomEui();
    const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `I${devEui.slice(0, 8)}`, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui } });

    await publisher.publishAsync(upTopic(devEui), JSON.stringify(upEvent({ devEui, fPort: 85, hex: '01755c05c800010000', fCnt: 1 })), { qos: 1 });

    const readings = await eventually('reading stored', async () => {
      const r = await api<{ items: { pulseCount: number; readingValue: number }[] }>('GET', `/meters/${meter.body.id}/readings`);
      return r.body.items.length ? r.body.items : undefined;
    });
    expect(readings[0]).toMatchObject({ pulseCount: 256, readingValue: 0.256 });
  });

  it('accepts the ChirpStack HTTP integration with its token and refuses it without', async () => {
    const devEui = randomEui();
    const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `H${devEui.slice(0, 8)}`, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui } });
    const body = JSON.stringify(upEvent({ devEui, fPort: 85, hex: '01755c05c800020000', fCnt: 2 }));

    const refused = await fetch(`${platform.httpUrl}/integrations/chirpstack?event=up`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const accepted = await fetch(`${platform.httpUrl}/integrations/chirpstack?event=up`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${integrationToken}` }, body });

    expect(refused.status).toBe(401);
    expect(accepted.status).toBe(202);
    const readings = await api<{ items: { pulseCount: number }[] }>('GET', `/meters/${meter.body.id}/readings`);
    expect(readings.body.items[0]).toMatchObject({ pulseCount: 512 });
  });
});

describe('quarantine', () => {
  it('holds an uplink from an unknown device and reprocesses it once the device is registered', async () => {
    const devEui = randomEui();
    await publisher.publishAsync(upTopic(devEui), JSON.stringify(upEvent({ devEui, fPort: 85, hex: '01755c05c800030000', fCnt: 9 })), { qos: 1 });
    type Item = { id: string; reasonCode: string; devEui: string };
    const item = await eventually('quarantined', async () => (await api<{ items: Item[] }>('GET', `/quarantine?devEui=${devEui}`)).body.items[0]);
    expect(item.reasonCode).toBe('unknown_device');

    const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `Q${devEui.slice(0, 8)}`, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui } });
    const reprocessed = await api<{ resolved: boolean; item: { status: string } }>('POST', `/quarantine/${item.id}/reprocess`);

    expect(reprocessed).toMatchObject({ status: 200, body: { resolved: true, item: { status: 'reprocessed' } } });
    const readings = await api<{ items: { pulseCount: number }[] }>('GET', `/meters/${meter.body.id}/readings`);
    expect(readings.body.items[0]).toMatchObject({ pulseCount: 768 });
    const again = await api<{ status: number }>('POST', `/quarantine/${item.id}/reprocess`);
    expect(again.status).toBe(409);
  });
});
