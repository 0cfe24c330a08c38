// ESP32 balance resync end to end on the local platform, with a real MQTT client connecting as the meter:
// on the embedded broker (PGlite) its connect event, on an external Mosquitto (MQTT_URL, with PostgreSQL)
// its first message after a silence, make the platform push its current balance
// (smartmeter/{meterNo}/command/balance); a second connect in the same window pushes nothing more. A
// balance report that disagrees with the ledger is recorded as a discrepancy (GET /balance-discrepancies,
// every role) and answered with the correct balance; the ledger stays the truth.
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resyncOnReconnect } from '#app/billing/resync';
import { esp32CommandTopic, esp32ReportTopic } from '#domain/topics';
import { logger } from '#shared/logger';
import { invariantViolations } from '#store/ledger';
import { mqttUrl } from '../support/db.ts';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { meterWithCredentials, type IssuedMeter } from '../support/meters.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;
let api: ApiCall;
let adminApi: ApiCall;
let viewerApi: ApiCall;
const clients: MqttClient[] = [];

beforeAll(async () => {
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5', SCHEDULER_ENABLED: 'false', ESP32_RECONNECT_SILENCE_S: '1', ESP32_RESYNC_DEBOUNCE_S: '86400' });
  const operator = await platform.token('operator');
  const admin = await platform.token('admin');
  const viewer = await platform.token('viewer');
  api = apiClient(platform.httpUrl, () => operator);
  adminApi = apiClient(platform.httpUrl, () => admin);
  viewerApi = apiClient(platform.httpUrl, () => viewer);
}, 60_000);
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await platform?.dispose();
});

/** The meter's own MQTT connection: its login on the embedded broker (Mosquitto in the tests allows anonymous clients). */
async function connectAsMeter(meter: IssuedMeter, received: number[]): Promise<MqttClient> {
  const auth = mqttUrl ? {} : { username: meter.username, password: meter.password };
  const client = await mqtt.connectAsync(platform.mqttUrl, { clientId: meter.meterNo, clean: false, reconnectPeriod: 0, ...auth });
  clients.push(client);
  client.on('message', (_topic, payload) => received.push((JSON.parse(payload.toString('utf8')) as { balance: number }).balance));
  return client;
}

const status = (c: MqttClient, meterNo: string) => c.publishAsync(esp32ReportTopic(meterNo, 'status'), JSON.stringify({ online: true, timestamp: Math.floor(Date.now() / 1000) }), { qos: 1 });
const balanceCommands = async (meterId: string) =>
  (await api<{ items: { type: string; data: { balance: number } }[] }>('GET', `/meters/${meterId}/commands`)).body.items.filter((c) => c.type === 'balance_update');

describe('ESP32 balance resync', () => {
  it('pushes the balance when the meter comes back online, once per window; records and corrects a disagreeing report', async () => {
    const tariff = await api<{ id: string }>('POST', '/tariffs', {
      name: 'Flat 20/kWh',
      meterType: 'electricity',
      currency: 'KES',
      version: { effectiveFrom: '2026-01-01T00:00:00Z', components: [{ id: 'energy', kind: 'flat', rateMinor: '2000' }] },
    });
    const customer = await api<{ id: string }>('POST', '/customers', { name: 'Achieng Otieno', phone: '+254712000222' });
    const accountNo = `RS${randomUUID().slice(0, 6)}`;
    const account = await api<{ id: string }>('POST', '/accounts', { customerId: customer.body.id, accountNo });
    await adminApi('POST', `/accounts/${account.body.id}/adjustments`, { amountMinor: 5_000, reason: 'opening credit', idempotencyKey: `open-${accountNo}` });
    await api('PUT', `/accounts/${account.body.id}/tariffs/electricity`, { tariffId: tariff.body.id });
    const meter = await meterWithCredentials(api, 'E');
    const meterId = (await api<{ id: string }>('GET', `/meters/${meter.meterNo}`)).body.id;

    // The meter's session (its balance subscription) exists before it is on an account: nothing to push yet.
    const received: number[] = [];
    const first = await connectAsMeter(meter, received);
    await first.subscribeAsync(esp32CommandTopic(meter.meterNo, 'balance'), { qos: 1 });
    await status(first, meter.meterNo);
    expect((await api('POST', `/meters/${meterId}/account`, { accountId: account.body.id })).status).toBe(200);

    if (mqttUrl) {
      // External broker: the first message after a silence (ESP32_RECONNECT_SILENCE_S = 1 s) means it is back.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await status(first, meter.meterNo);
    } else {
      // Embedded broker: its connect event.
      await first.endAsync();
      await connectAsMeter(meter, received);
    }
    await eventually('balance pushed on reconnect', async () => (received.includes(50) ? true : undefined));
    expect((await balanceCommands(meterId)).map((c) => c.data.balance)).toEqual([50]);

    // Flapping: another reconnect in the same window sends nothing more.
    const deps = { db: platform.db.db, logger, now: () => new Date(), commandQueue: { enqueue: async () => undefined }, commandExpiryHours: 48 };
    expect(await resyncOnReconnect(deps as never, meter.meterNo, { debounceS: 86_400 })).toBe('debounced');
    expect(await resyncOnReconnect(deps as never, 'NO-SUCH-METER', { debounceS: 86_400 })).toBe('unknown_meter');

    // The meter reports 20 KES while the ledger says 50: a discrepancy, and the correct balance again.
    const reporter = clients[clients.length - 1]!;
    const reportedAt = Math.floor(Date.now() / 1000);
    await reporter.publishAsync(esp32ReportTopic(meter.meterNo, 'balance'), JSON.stringify({ balance: 20, timestamp: reportedAt }), { qos: 1 });
    const listed = await eventually('discrepancy recorded', async () => {
      const r = await viewerApi<{ items: { meterNo: string; reported: number; expected: number; difference: number; tolerance: number; unit: string; resyncCommandId: string | null }[]; total: number }>('GET', `/balance-discrepancies?meter=${meter.meterNo}`);
      return r.body.items.length && r.body.items[0]!.resyncCommandId ? r : undefined;
    });
    expect(listed.status).toBe(200);
    expect(listed.body.total).toBe(1);
    expect(listed.body.items[0]).toMatchObject({ meterNo: meter.meterNo, reported: 20, expected: 50, difference: -30, tolerance: 1, unit: 'currency' });
    await eventually('correct balance pushed again', async () => (received.filter((b) => b === 50).length >= 2 ? true : undefined));
    expect((await balanceCommands(meterId)).map((c) => c.data.balance)).toEqual([50, 50]);

    // A report within the tolerance (the meter's echo of 50, or 49.5) is no discrepancy.
    await reporter.publishAsync(esp32ReportTopic(meter.meterNo, 'balance'), JSON.stringify({ balance: 49.5, timestamp: reportedAt + 1 }), { qos: 1 });
    await reporter.publishAsync(esp32ReportTopic(meter.meterNo, 'status'), JSON.stringify({ online: true, timestamp: reportedAt + 2 }), { qos: 1 });
    await eventually('the later report ingested', async () => {
      const events = await platform.db.db.selectFrom('device_events').select('event_type').where('event_type', '=', 'esp32_balance').where('device_id', '=', meter.deviceId).execute();
      return events.length >= 2 ? true : undefined;
    });
    expect((await viewerApi<{ total: number }>('GET', `/balance-discrepancies?meter=${meterId}`)).body.total).toBe(1);
    expect((await viewerApi<{ total: number }>('GET', `/balance-discrepancies?since=2999-01-01T00:00:00Z`)).body.total).toBe(0);
    expect((await viewerApi('GET', '/balance-discrepancies?metre=x')).status).toBe(400);
    expect(await invariantViolations(platform.db.db)).toEqual([]);
  });
});
