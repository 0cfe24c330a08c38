// The issue's "done when" walkthrough on the local platform (`npm start` wiring, in-process): a meter's
// readings billed by a time-of-use tariff with 16% VAT appear as consumption lines on the account's
// statement; a falling balance sends the low-balance SMS once; at zero (outside friendly-credit hours) the
// billing job queues one relay_off (reason credit_exhausted) that the UC100's Modbus echo confirms through
// the ChirpStack simulator, never a second while it is open; an account at zero inside friendly-credit hours
// (a holiday in the site's time zone) gets its disconnect scheduled for the end of the day instead; an
// M-Pesa payment through the Daraja simulator queues relay_on and the account's ESP32 meter receives its new
// balance on its MQTT command topic. Readings are written to the store as ingest leaves them (cumulative
// values); the ledger invariants hold throughout. PGlite and the embedded broker, or PostgreSQL and
// Mosquitto when DATABASE_URL / MQTT_URL are set.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import mqtt, { type MqttClient } from 'mqtt';
import { wallParts } from '#domain/tariff/zone';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DarajaSimulator } from '#runtime/daraja-sim/index';
import { invariantViolations } from '#store/ledger';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;
let api: ApiCall;
let adminApi: ApiCall;
let sim: DarajaSimulator;
let device: MqttClient;

beforeAll(async () => {
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5', SCHEDULER_ENABLED: 'false', DARAJA_SIMULATOR_STK_DELAY_MS: '20' });
  sim = platform.payments.simulator as DarajaSimulator;
  const operator = await platform.token('operator');
  const admin = await platform.token('admin');
  api = apiClient(platform.httpUrl, () => operator);
  adminApi = apiClient(platform.httpUrl, () => admin);
  device = await mqtt.connectAsync(platform.mqttUrl, { clientId: `bc-device-${randomUUID().slice(0, 8)}`, ...platform.mqttAuth() });
}, 60_000);
afterAll(async () => {
  await device?.endAsync();
  await platform?.dispose();
});

interface CommandView {
  id: string;
  type: string;
  status: string;
  reason: string | null;
  data: Record<string, unknown>;
}

const commandsOf = async (meterId: string) => (await api<{ items: CommandView[] }>('GET', `/meters/${meterId}/commands`)).body.items;

async function reading(meterId: string, at: Date, value: string) {
  await sql`INSERT INTO meter_readings (meter_id, source_key, reading_value, reading_date)
            VALUES (CAST(${meterId} AS uuid), ${`e2e:${randomUUID()}`}, CAST(${value} AS numeric), ${at})`.execute(platform.db.db);
}

const NAIROBI = 'Africa/Nairobi';
/** Peak 06:00–22:00 local at KES 10/kWh, off-peak KES 5, VAT 16% on energy. */
const touWithVat = {
  name: 'TOU with VAT',
  meterType: 'electricity',
  currency: 'KES',
  version: {
    effectiveFrom: '2026-01-01T00:00:00Z',
    components: [
      { id: 'energy', kind: 'tou', bands: [{ name: 'peak', rateMinor: '1000' }, { name: 'offpeak', rateMinor: '500' }], periods: [{ band: 'offpeak', days: 'all', from: '22:00', to: '06:00' }, { band: 'peak', days: 'all', from: '06:00', to: '22:00' }] },
      { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['energy'] },
    ],
  },
};

async function customerAccount(siteId: string, phone: string, openingMinor: number) {
  const customer = await api<{ id: string }>('POST', '/customers', { name: 'Wanjiru Kamau', phone, siteId });
  const accountNo = `BC${randomUUID().slice(0, 6)}`.toUpperCase();
  const account = await api<{ id: string }>('POST', '/accounts', { customerId: customer.body.id, accountNo });
  expect(account.status).toBe(201);
  const topUp = await adminApi('POST', `/accounts/${account.body.id}/adjustments`, { amountMinor: openingMinor, reason: 'opening credit', idempotencyKey: `open-${accountNo}` });
  expect(topUp.status).toBe(201);
  return { id: account.body.id, accountNo };
}

async function uc100Meter(accountId: string, siteId: string) {
  const devEui = randomEui();
  const meter = await api<{ id: string }>('POST', '/meters', { meterNo: `R${devEui.slice(0, 10)}`, meterType: 'electricity', siteId, device: { deviceType: 'milesight_uc100', devEui } });
  expect(meter.status).toBe(201);
  expect((await api('POST', `/meters/${meter.body.id}/account`, { accountId })).status).toBe(200);
  return { id: meter.body.id, devEui };
}

describe('balance-driven control (the done-when walkthrough)', () => {
  it('bills by TOU with VAT, warns once, disconnects at zero with the echo confirming it, reconnects on M-Pesa and tells the ESP32 its balance', async () => {
    const site = await api<{ id: string }>('POST', '/sites', { code: `BC${randomUUID().slice(0, 8)}`, name: 'Kibera estate', timezone: NAIROBI });
    // The site's policy: warn at KES 25; SMS at any hour, so the walkthrough does not depend on the clock.
    expect((await api('PUT', `/sites/${site.body.id}/control-policy`, { lowBalanceMinor: 2_500, quietHours: null })).status).toBe(200);
    const tariff = await api<{ id: string }>('POST', '/tariffs', touWithVat);
    expect(tariff.status).toBe(201);
    const account = await customerAccount(site.body.id, '+254712000111', 5_000);
    await api('PUT', `/accounts/${account.id}/tariffs/electricity`, { tariffId: tariff.body.id });
    const relay = await uc100Meter(account.id, site.body.id);
    const espNo = `E${randomUUID().slice(0, 8)}`;
    const espMeter = await api<{ id: string }>('POST', '/meters', { meterNo: espNo, meterType: 'electricity', device: { deviceType: 'esp32_meter', meterNo: espNo } });
    expect((await api('POST', `/meters/${espMeter.body.id}/account`, { accountId: account.id })).status).toBe(200);
    const espReceived: number[] = [];
    device.on('message', (topic, payload) => {
      if (topic === `smartmeter/${espNo}/command/balance`) espReceived.push((JSON.parse(payload.toString('utf8')) as { balance: number }).balance);
    });
    await device.subscribeAsync(`smartmeter/${espNo}/command/balance`, { qos: 1 });

    const notifications = async () => (await platform.db.db.selectFrom('notifications' as never).selectAll().where('account_id' as never, '=', account.id as never).orderBy('created_at' as never).execute()) as unknown as { template: string; status: string; body: string; provider_message_id: string | null }[];
    // Readings tomorrow between 09:00 and 11:00 in Nairobi: peak, KES 10 + 16% VAT = KES 11.60 a kWh.
    const tomorrow = wallParts(NAIROBI, Date.now() + 86_400_000);
    const t0 = new Date(Date.UTC(tomorrow.year, tomorrow.month - 1, tomorrow.day, 6, 0)); // 09:00 EAT
    const at = (min: number) => new Date(t0.getTime() + min * 60_000);
    const bill = async () => (await adminApi<{ entriesPosted: number; status: string }>('POST', '/billing/runs')).body;
    // 3 kWh: KES 34.80 of 50 → 15.20: low (at or below KES 25), one SMS.
    await reading(relay.id, t0, '100');
    await reading(relay.id, at(30), '103');
    expect(await bill()).toMatchObject({ status: 'completed', entriesPosted: 1 });
    await reading(relay.id, at(40), '103.5');
    await bill();
    expect((await notifications()).map((n) => n.template)).toEqual(['low_balance']);
    expect((await commandsOf(relay.id)).filter((c) => c.type === 'relay_off')).toHaveLength(0);
    // 2 kWh more: 9.40 - 23.20 = -13.80: exhausted, outside friendly-credit hours (none set): one disconnect.
    await reading(relay.id, at(50), '105.5');
    await bill();
    const balance = await api<{ balanceMinor: number }>('GET', `/accounts/${account.id}`);
    expect(balance.body.balanceMinor).toBe(-1_380);
    const statement = await api<{ items: { entryType: string; amountMinor: number; description: string }[] }>('GET', `/accounts/${account.id}/statement`);
    expect(statement.body.items.filter((l) => l.entryType === 'consumption').map((l) => l.amountMinor)).toEqual([-3_480, -580, -2_320]);
    const offs = (await commandsOf(relay.id)).filter((c) => c.type === 'relay_off');
    expect(offs).toHaveLength(1);
    expect(offs[0]).toMatchObject({ reason: 'credit_exhausted' });
    expect((await notifications()).map((n) => n.template)).toEqual(['low_balance', 'disconnected']);
    // The ESP32 meter is told its balance after each run that moved it (the latest at least: a newer
    // balance command supersedes one still waiting).
    await eventually('ESP32 balance after billing', async () => (espReceived.includes(-13.8) ? true : undefined));

    // More consumption, another run: still one disconnect.
    await reading(relay.id, at(60), '106');
    await bill();
    expect((await commandsOf(relay.id)).filter((c) => c.type === 'relay_off')).toHaveLength(1);
    // The disconnect waits at the network server (Class A) for the device's next uplink; the meter answers
    // with the Modbus echo, which confirms it.
    await eventually('disconnect sent', async () => ((await commandsOf(relay.id)).find((c) => c.id === offs[0]!.id && c.status === 'sent') ? true : undefined));
    await device.publishAsync(upTopic(relay.devEui), JSON.stringify(upEvent({ devEui: relay.devEui, fPort: 85, hex: 'ff0bff', fCnt: 3 })), { qos: 1 });
    await eventually('disconnect confirmed', async () => ((await commandsOf(relay.id)).find((c) => c.id === offs[0]!.id && c.status === 'confirmed') ? true : undefined));
    expect((await api<{ relayState: string }>('GET', `/meters/${relay.id}`)).body.relayState).toBe('off');

    // An M-Pesa payment of 100 KES: balance 100 - 13.80 - 5.80 = 80.40 KES > 0.
    const c2b = await sim.simulateC2b({ amount: 100, msisdn: '254712000111', billRef: account.accountNo });
    expect(c2b.confirmation?.status).toBe(200);
    const on = await eventually('reconnect queued', async () => (await commandsOf(relay.id)).find((c) => c.type === 'relay_on'));
    expect(on).toMatchObject({ reason: 'credit_restored' });
    // The ESP32 meter receives its new balance on its command topic.
    await eventually('ESP32 balance after payment', async () => (espReceived.includes(80.4) ? true : undefined));
    const sms = await eventually('SMS sent', async () => {
      const list = await notifications();
      return list.length === 4 && list.every((n) => n.status === 'sent') ? list : undefined;
    });
    expect(sms.map((n) => n.template)).toEqual(['low_balance', 'disconnected', 'payment_received', 'reconnected']);
    expect(sms.every((n) => n.body.length <= 160 && n.provider_message_id?.startsWith('local-'))).toBe(true);
    expect(await invariantViolations(platform.db.db)).toEqual([]);
  });

  it('schedules the disconnect for the end of friendly-credit hours (a holiday in the site time zone) instead of disconnecting', async () => {
    const site = await api<{ id: string }>('POST', '/sites', { code: `BF${randomUUID().slice(0, 8)}`, name: 'Holiday estate', timezone: NAIROBI });
    const tariff = await api<{ id: string }>('POST', '/tariffs', { ...touWithVat, name: 'TOU with VAT (holiday)' });
    const account = await customerAccount(site.body.id, '+254712000222', 1_000);
    await api('PUT', `/accounts/${account.id}/tariffs/electricity`, { tariffId: tariff.body.id });
    // Today, in Nairobi, is a holiday for this account: friendly credit until midnight local.
    const today = wallParts(NAIROBI, Date.now());
    expect((await api('PUT', `/accounts/${account.id}/control-policy`, { friendlyCreditHolidays: [today.date] })).status).toBe(200);
    const relay = await uc100Meter(account.id, site.body.id);
    const t0 = new Date(Date.now() + 1_000);
    await reading(relay.id, t0, '10');
    await reading(relay.id, new Date(t0.getTime() + 60_000), '12'); // at least KES 11.60 of 10: below zero
    await adminApi('POST', '/billing/runs');
    expect((await api<{ balanceMinor: number }>('GET', `/accounts/${account.id}`)).body.balanceMinor).toBeLessThan(0);
    expect((await commandsOf(relay.id)).filter((c) => c.type === 'relay_off')).toHaveLength(0);
    const policy = await api<{ effective: { friendlyCreditHolidays: { value: string[]; source: string } }; scheduledDisconnects: { meterId: string; status: string; dueAt: string }[] }>('GET', `/accounts/${account.id}/control-policy`);
    expect(policy.body.effective.friendlyCreditHolidays).toEqual({ value: [today.date], source: 'account' });
    const midnight = new Date(Date.UTC(today.year, today.month - 1, today.day + 1) - 3 * 3_600_000); // 00:00 EAT (UTC+3)
    expect(policy.body.scheduledDisconnects).toEqual([expect.objectContaining({ meterId: relay.id, status: 'scheduled', dueAt: midnight.toISOString() })]);
    // A second run inside the window schedules nothing more.
    await reading(relay.id, new Date(t0.getTime() + 120_000), '12.5');
    await adminApi('POST', '/billing/runs');
    expect((await api<{ scheduledDisconnects: unknown[] }>('GET', `/accounts/${account.id}/control-policy`)).body.scheduledDisconnects).toHaveLength(1);
    expect(await invariantViolations(platform.db.db)).toEqual([]);
  });
});
