// The ESP32 simulator (AWS IoT Device SDK v2) against the local platform: its consumption becomes
// readings, and a balance update reaches it on its own command topic and is confirmed by its report.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestBalanceUpdate } from '#app/commands/requests';
import { startEsp32Simulator, type Esp32Simulator } from '../../scripts/esp32-simulator.ts';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;
let api: ApiCall;
let sim: Esp32Simulator | undefined;

beforeAll(async () => {
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5' });
  const token = await platform.token('operator');
  api = apiClient(platform.httpUrl, () => token);
});
afterAll(async () => {
  await sim?.stop();
  await platform.dispose();
});

describe('ESP32 simulator', () => {
  it('reports consumption as readings and confirms a balance update', async () => {
    const meterNo = `ESP${Date.now().toString(36)}`;
    const meter = await api<{ id: string; device: { id: string } }>('POST', '/meters', { meterNo, meterType: 'electricity', device: { deviceType: 'esp32_meter', meterNo } });
    // Its own login on the embedded broker; the tests' Mosquitto (MQTT_URL) takes anonymous clients.
    const login = await api<{ password: string }>('POST', `/devices/${meter.body.device.id}/mqtt-credentials`);
    const broker = new URL(platform.mqttUrl);
    sim = await startEsp32Simulator({ meterNo, host: broker.hostname, port: Number(broker.port), unitsPerInterval: 0.5, initialBalance: 2, ...(platform.broker ? { password: login.body.password } : {}) });

    await sim.report();
    await sim.report();
    const readings = await eventually('two readings', async () => {
      const r = await api<{ items: { readingValue: number }[] }>('GET', `/meters/${meter.body.id}/readings`);
      return r.body.items.length === 2 ? r.body.items : undefined;
    });
    const command = await requestBalanceUpdate(platform.commands.deps, { meterId: meter.body.id, balance: 10.5, idempotencyKey: `test-${meterNo}` });
    const confirmed = await eventually('balance confirmed', async () => {
      const r = await api<{ status: string }>('GET', `/commands/${command.id}`);
      return r.body.status === 'confirmed' ? r.body : undefined;
    });

    expect(readings.map((r) => r.readingValue).sort()).toEqual([0.5, 1]);
    expect(sim.commands).toEqual([expect.objectContaining({ balance: 10.5 })]);
    expect(sim.balance()).toBe(10.5);
    expect(confirmed.status).toBe('confirmed');
  });
});
