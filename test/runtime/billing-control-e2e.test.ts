// Balance-driven control end to end on the local platform (`npm start` wiring, in-process): a meter's
// consumption billed by the billing job (POST /billing/runs) takes its account below zero, and the job
// queues one relay_off (reason credit_exhausted) through the command queue, never a second while it is
// open; an M-Pesa payment through the Daraja simulator brings the balance back above zero, and the payment
// listener queues relay_on; the account's ESP32 meter gets its new balance after the payment. The readings
// are written to the store as ingest leaves them (cumulative values); the ledger invariants hold throughout.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DarajaSimulator } from '#runtime/daraja-sim/index';
import { invariantViolations } from '#store/ledger';
import { randomEui } from '../support/chirpstack.ts';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;
let api: ApiCall;
let adminApi: ApiCall;
let sim: DarajaSimulator;

beforeAll(async () => {
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5', SCHEDULER_ENABLED: 'false', DARAJA_SIMULATOR_STK_DELAY_MS: '20' });
  sim = platform.payments.simulator as DarajaSimulator;
  const operator = await platform.token('operator');
  const admin = await platform.token('admin');
  api = apiClient(platform.httpUrl, () => operator);
  adminApi = apiClient(platform.httpUrl, () => admin);
}, 60_000);
afterAll(async () => {
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

describe('balance-driven control', () => {
  it('disconnects at zero once, reconnects on payment, and sends the ESP32 meter its balance', async () => {
    const tariff = await api<{ id: string }>('POST', '/tariffs', {
      name: 'Flat 10/kWh',
      meterType: 'electricity',
      currency: 'KES',
      version: { effectiveFrom: '2026-01-01T00:00:00Z', components: [{ id: 'energy', kind: 'flat', rateMinor: '1000' }] },
    });
    expect(tariff.status).toBe(201);
    const customer = await api<{ id: string }>('POST', '/customers', { name: 'Wanjiru Kamau', phone: '+254712000111' });
    const accountNo = `BC${randomUUID().slice(0, 6)}`;
    const account = await api<{ id: string }>('POST', '/accounts', { customerId: customer.body.id, accountNo });
    expect(account.status).toBe(201);
    const topUp = await adminApi('POST', `/accounts/${account.body.id}/adjustments`, { amountMinor: 5_000, reason: 'opening credit', idempotencyKey: `open-${accountNo}` });
    expect(topUp.status).toBe(201);
    await api('PUT', `/accounts/${account.body.id}/tariffs/electricity`, { tariffId: tariff.body.id });

    const devEui = randomEui();
    const relayMeter = await api<{ id: string }>('POST', '/meters', { meterNo: `R${devEui.slice(0, 10)}`, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });
    const espNo = `E${randomUUID().slice(0, 8)}`;
    const espMeter = await api<{ id: string }>('POST', '/meters', { meterNo: espNo, meterType: 'electricity', device: { deviceType: 'esp32_meter', meterNo: espNo } });
    for (const m of [relayMeter.body.id, espMeter.body.id]) expect((await api('POST', `/meters/${m}/account`, { accountId: account.body.id })).status).toBe(200);

    // 6 kWh at 10 KES: 60 KES against 50 KES of credit.
    // Readings since the meter joined its account (billing starts from the first of them).
    const t0 = new Date(Date.now() + 1_000);
    await reading(relayMeter.body.id, t0, '100');
    await reading(relayMeter.body.id, new Date(t0.getTime() + 1_800_000), '106');
    const run = await adminApi<{ entriesPosted: number; status: string }>('POST', '/billing/runs');
    expect(run.body).toMatchObject({ status: 'completed', entriesPosted: 1 });
    const balance = await api<{ balanceMinor: number }>('GET', `/accounts/${account.body.id}`);
    expect(balance.body.balanceMinor).toBe(-1_000);

    const offs = (await commandsOf(relayMeter.body.id)).filter((c) => c.type === 'relay_off');
    expect(offs).toHaveLength(1);
    expect(offs[0]).toMatchObject({ reason: 'credit_exhausted' });
    // The ESP32 meter keeps no relay of ours: it was told its balance instead.
    const espAfterBilling = (await commandsOf(espMeter.body.id)).filter((c) => c.type === 'balance_update');
    expect(espAfterBilling.map((c) => c.data['balance'])).toEqual([-10]);

    // More consumption, another run: still one disconnect.
    await reading(relayMeter.body.id, new Date(t0.getTime() + 2_400_000), '107');
    await adminApi('POST', '/billing/runs');
    expect((await commandsOf(relayMeter.body.id)).filter((c) => c.type === 'relay_off')).toHaveLength(1);
    // The disconnect leaves for the network server (Class A: it waits there for the device's next uplink).
    await eventually('disconnect sent', async () => ((await commandsOf(relayMeter.body.id)).find((c) => c.id === offs[0]!.id && c.status === 'sent') ? true : undefined));

    // An M-Pesa payment of 100 KES: balance 100 - 20 = 80 KES > 0.
    const c2b = await sim.simulateC2b({ amount: 100, msisdn: '254712000111', billRef: accountNo });
    expect(c2b.confirmation?.status).toBe(200);
    const on = await eventually('reconnect queued', async () => (await commandsOf(relayMeter.body.id)).find((c) => c.type === 'relay_on'));
    expect(on).toMatchObject({ reason: 'credit_restored' });
    const espBalances = await eventually('ESP32 balance after payment', async () => {
      const list = (await commandsOf(espMeter.body.id)).filter((c) => c.type === 'balance_update');
      return list.length >= 3 ? list : undefined;
    });
    expect(espBalances.map((c) => c.data['balance'])).toContain(80);
    expect(await invariantViolations(platform.db.db)).toEqual([]);
  });
});
