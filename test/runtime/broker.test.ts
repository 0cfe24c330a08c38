// The embedded broker authenticates every client and authorizes it by the identity its login proves
// (functions/domain/device-access.ts), as the IoT policies do in the cloud. Always the embedded broker,
// whatever MQTT_URL the suite runs with; credentials come from the API as an operator would get them.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { esp32ReportTopic } from '#domain/topics';
import { startEmbeddedBroker } from '#runtime/broker';
import { ConfigError } from '#shared/config';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { apiClient, type ApiCall } from '../support/http.ts';
import { meterWithCredentials, type IssuedMeter } from '../support/meters.ts';
import { brokerAccessCases, connect, endClients, refusedConnect, type AccessRig } from '../support/broker-access.ts';

let platform: TestPlatform;
let api: ApiCall;
let rig: AccessRig;
let meterA: IssuedMeter;

beforeAll(async () => {
  platform = await startTestPlatform({ MQTT_URL: '' });
  const token = await platform.token('operator');
  api = apiClient(platform.httpUrl, () => token);
  meterA = await meterWithCredentials(api);
  const meterB = await meterWithCredentials(api);
  const login = (identity: 'platform' | 'chirpstack' | 'operator') => {
    const l = platform.mqttLogins[identity];
    if (!l) throw new Error(`no ${identity} login`);
    return l;
  };
  rig = { url: platform.mqttUrl, platform: login('platform'), chirpstack: login('chirpstack'), operator: login('operator'), meterA, meterB, embedded: true };
}, 60_000);
afterEach(endClients);
afterAll(async () => {
  await platform?.dispose();
});

describe('embedded broker access', () => {
  brokerAccessCases(() => rig);

  it('refuses a meter’s login under any client id but its meterNo', async () => {
    expect(await refusedConnect(rig.url, { clientId: `smartmeter-${meterA.meterNo}`, username: meterA.username, password: meterA.password })).toMatch(/Not authorized/i);
  });

  it('refuses the old secret once rotated, and every secret once revoked (audited)', async () => {
    const meter = await meterWithCredentials(api);
    const rotated = await api<{ password: string; rotated: boolean }>('POST', `/devices/${meter.deviceId}/mqtt-credentials`);
    const oldRefused = await refusedConnect(rig.url, { clientId: meter.meterNo, username: meter.username, password: meter.password });
    const c = await connect(rig.url, { clientId: meter.meterNo, username: meter.username, password: rotated.body.password });
    await c.publishAsync(esp32ReportTopic(meter.meterNo, 'status'), '{"online":true}', { qos: 1 });
    await c.endAsync();

    const revoked = await api('DELETE', `/devices/${meter.deviceId}/mqtt-credentials`);
    const newRefused = await refusedConnect(rig.url, { clientId: meter.meterNo, username: meter.username, password: rotated.body.password });
    const again = await api<{ detail: string }>('DELETE', `/devices/${meter.deviceId}/mqtt-credentials`);
    const audit = await platform.db.db.selectFrom('audit_log').select(['action', 'details']).where('target_id', '=', meter.deviceId).orderBy('id').execute();

    expect(rotated.body.rotated).toBe(true);
    expect(oldRefused).toMatch(/Bad username or password/i);
    expect(revoked.status).toBe(204);
    expect(newRefused).toMatch(/Bad username or password/i);
    expect(again.status).toBe(404);
    expect(audit.map((a) => a.action).filter((a) => a.startsWith('device.mqtt_credential.'))).toEqual([
      'device.mqtt_credential.issue',
      'device.mqtt_credential.rotate',
      'device.mqtt_credential.revoke',
    ]);
    expect(JSON.stringify(audit)).not.toContain(rotated.body.password);
  });

  it('refuses a publish larger than the limit from anyone but the platform', async () => {
    const listener = await connect(rig.url, { clientId: `ls-${meterA.meterNo}`, ...rig.platform });
    await listener.subscribeAsync('application/+/device/+/event/+', { qos: 1 });
    const chirpstack = await connect(rig.url, { clientId: 'cs-big', ...rig.chirpstack });
    const closed = new Promise<void>((resolve) => chirpstack.once('close', () => resolve()));
    chirpstack.publish('application/a/device/0101010101010101/event/up', Buffer.alloc(1024 * 1024), { qos: 0 });
    await closed;
    expect(chirpstack.connected).toBe(false);
  });
});

describe('embedded broker exposure', () => {
  const access = { serviceSecrets: { platform: 'p'.repeat(43), chirpstack: 'c'.repeat(43), operator: 'o'.repeat(43) }, verifyMeter: async () => false, allowAnonymous: false };

  it('refuses to start anonymous beyond loopback', async () => {
    await expect(startEmbeddedBroker({ port: 0, host: '0.0.0.0', access: { ...access, allowAnonymous: true } })).rejects.toThrow(ConfigError);
  });

  it('refuses to serve plain MQTT beyond loopback', async () => {
    await expect(startEmbeddedBroker({ port: 0, host: '0.0.0.0', access })).rejects.toThrow(/MQTT_TLS_CERT/);
  });

  it('speaks MQTT over TLS with a certificate, and still wants a login there', async () => {
    const dir = path.resolve(import.meta.dirname, '../fixtures/tls');
    const cert = await readFile(path.join(dir, 'broker-cert.pem'));
    const broker = await startEmbeddedBroker({ port: 0, host: '0.0.0.0', access, tls: { cert, key: await readFile(path.join(dir, 'broker-key.pem')) } });
    try {
      const url = broker.url.replace('0.0.0.0', 'localhost');
      const anonymous = await refusedConnect(url, { clientId: 'tls-anon', ca: cert });
      const operator = await connect(url, { clientId: 'tls-op', ca: cert, username: 'quantify.operator', password: 'o'.repeat(43) });

      expect(broker.url).toMatch(/^mqtts:\/\//);
      expect(anonymous).toMatch(/Not authorized/i);
      expect(operator.connected).toBe(true);
      await operator.endAsync();
    } finally {
      await broker.close();
    }
  });
});
