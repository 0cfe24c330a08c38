// Device commands end to end on the local runtime (the "Done when"): the HTTP API, the local
// command queue and dispatcher, the ChirpStack simulator (Class A: a downlink waits for the device's next
// uplink, which the test publishes), ingestion of the txack and of the UC100's Modbus echo, and the ESP32
// balance command over MQTT. Real PostgreSQL and Mosquitto when DATABASE_URL / MQTT_URL are set, PGlite
// and the embedded broker otherwise. Uplink payloads are public vectors: UC100 power-on frame `ff0bff`
// (uc100.json, Milesight decoder) and Browan TABS occupied frame `01FB060000CC0E00` (browan_tabs.json).
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestBalanceUpdate } from '#app/commands/requests';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;
let device: MqttClient;
let token: string;
let api: ApiCall;

beforeAll(async () => {
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5', SCHEDULER_ENABLED: 'false' });
  device = await mqtt.connectAsync(platform.mqttUrl, { clientId: `device-test-${randomUUID().slice(0, 8)}`, ...platform.mqttAuth() });
  token = await platform.token('operator');
  api = apiClient(platform.httpUrl, () => token);
});
afterAll(async () => {
  await device?.endAsync();
  await platform?.dispose();
});



interface CommandView {
  id: string;
  status: string;
  deliveryState: string | null;
  awaitingDevice: boolean;
  payloadHex: string;
  fPort: number;
  networkQueueItemId: string | null;
  createdAt: string;
  queuedAt: string | null;
  sentAt: string | null;
  transmittedAt: string | null;
  confirmedAt: string | null;
  outcome: { via: string; frameHex?: string } | null;
}

const commandIs = (id: string, status: string) => async () => {
  const r = await api<CommandView>('GET', `/commands/${id}`);
  return r.body.status === status ? r.body : undefined;
};

describe('relay off for a UC100 meter', () => {
  it('goes queued → sent (awaiting the device) → confirmed by the meter\'s echo, with the bytes and fPort in the history', async () => {
    const devEui = randomEui();
    const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `R${devEui.slice(0, 10)}`, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });

    const requested = await api<CommandView>('POST', `/meters/${meter.body.id}/relay`, { action: 'off', reason: 'account in arrears' });

    expect(requested.status).toBe(202);
    expect(requested.body).toMatchObject({ status: 'queued', payloadHex: '010500000000cdca', fPort: 5 });
    const sent = await eventually('sent', commandIs(requested.body.id, 'sent'));
    expect(sent).toMatchObject({ deliveryState: 'awaiting_device', awaitingDevice: true, transmittedAt: null });
    expect(sent.networkQueueItemId).toMatch(/^[0-9a-f-]{36}$/);

    // The device's next uplink opens its receive window: the simulator transmits, the meter answers.
    await device.publishAsync(upTopic(devEui), JSON.stringify(upEvent({ devEui, fPort: 85, hex: 'ff0bff', fCnt: 7 })), { qos: 1 });

    const confirmed = await eventually('confirmed', commandIs(requested.body.id, 'confirmed'));
    expect(confirmed).toMatchObject({ deliveryState: 'transmitted', outcome: { via: 'modbus_echo', frameHex: '010500000000cdca' } });
    const history = await api<{ items: CommandView[] }>('GET', `/meters/${meter.body.id}/commands`);
    expect(history.body.items).toHaveLength(1);
    const [entry] = history.body.items;
    expect(entry).toMatchObject({ id: requested.body.id, status: 'confirmed', payloadHex: '010500000000cdca', fPort: 5 });
    const steps = [entry?.createdAt, entry?.queuedAt, entry?.sentAt, entry?.transmittedAt, entry?.confirmedAt].map((t) => Date.parse(t ?? ''));
    expect(steps.every(Number.isFinite)).toBe(true);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    const meterNow = await api<{ relayState: string; relayStateSource: string; relayStateAt: string }>('GET', `/meters/${meter.body.id}`);
    expect(meterNow.body).toMatchObject({ relayState: 'off', relayStateSource: 'modbus_echo' });
    const audited = await platform.db.db.selectFrom('audit_log').selectAll().where('action', '=', 'meter.relay').where('target_id', '=', meter.body.id).execute();
    expect(audited).toHaveLength(1);
  });
});

describe('Busylight actuation', () => {
  it('is queued by an occupancy change, sent, and shows sent and confirmed in the actuations audit trail', async () => {
    const sensorEui = randomEui();
    const displayEui = randomEui();
    const sensor = await api<{ id: string }>('POST', '/devices', { deviceType: 'browan_tabs', devEui: sensorEui });
    const display = await api<{ id: string }>('POST', '/devices', { deviceType: 'kuando_busylight', devEui: displayEui });
    const space = await platform.db.db
      .insertInto('parking_spaces')
      .values({ code: `P-${sensorEui.slice(0, 8)}`, name: 'Bay 1', sensor_device_id: sensor.body.id, display_device_id: display.body.id })
      .returning('id')
      .executeTakeFirstOrThrow();

    await device.publishAsync(upTopic(sensorEui), JSON.stringify(upEvent({ devEui: sensorEui, fPort: 102, hex: '01FB060000CC0E00' })), { qos: 1 });
    const command = await eventually('display command sent', async () => {
      const row = await platform.db.db.selectFrom('device_commands').selectAll().where('device_eui', '=', displayEui).executeTakeFirst();
      return row?.status === 'sent' ? row : undefined;
    });
    await device.publishAsync(upTopic(displayEui), JSON.stringify(upEvent({ devEui: displayEui, fPort: 15, hex: '00' })), { qos: 1 });

    const actuation = await eventually('actuation confirmed', async () => {
      const row = await platform.db.db.selectFrom('actuations').selectAll().where('command_id', '=', command.id).executeTakeFirst();
      return row?.downlink_confirmed ? row : undefined;
    });
    expect(actuation).toMatchObject({ space_id: space.id, trigger_type: 'sensor_uplink', previous_state: 'FREE', new_state: 'OCCUPIED', display_deveui: displayEui, display_code: 'ff00006400', fport: 15, downlink_sent: true, downlink_error: null });
    expect(actuation.sent_at).toBeInstanceOf(Date);
    expect(actuation.confirmed_at).toBeInstanceOf(Date);
    expect(actuation.response_time_ms).toBeGreaterThanOrEqual(0);
  });
});

describe('ESP32 balance command', () => {
  it("reaches a subscriber on the meter's command topic and is confirmed by the meter's balance report", async () => {
    const meterNo = `E${randomUUID().slice(0, 8)}`;
    const meter = await api<{ id: string }>('POST', '/meters', { meterNo, meterType: 'electricity', device: { deviceType: 'esp32_meter', meterNo } });
    const received = new Promise<{ topic: string; body: unknown }>((resolve) => {
      device.on('message', (topic, payload) => {
        if (topic === `smartmeter/${meterNo}/command/balance`) resolve({ topic, body: JSON.parse(payload.toString('utf8')) as unknown });
      });
    });
    await device.subscribeAsync(`smartmeter/${meterNo}/command/balance`, { qos: 1 });

    const command = await requestBalanceUpdate(platform.commands.deps, { meterId: meter.body.id, balance: 10.5, idempotencyKey: `payment-${meterNo}` });

    const message = await received;
    expect(message.body).toEqual({ balance: 10.5, timestamp: expect.any(Number) as number });
    await eventually('balance command sent', commandIs(command.id, 'sent'));
    await device.publishAsync(`smartmeter/${meterNo}/balance`, JSON.stringify({ meterNo, balance: 10.5, timestamp: Date.now() }), { qos: 1 });
    const confirmed = await eventually('balance command confirmed', commandIs(command.id, 'confirmed'));
    expect(confirmed).toMatchObject({ deliveryState: 'published', outcome: { via: 'balance_report' } });
  });
});
