// The operator portal in a real browser (Playwright driving Debian's Chromium, /usr/bin/chromium): sign in
// with a token, find a meter in the list, disconnect it through the confirmation dialog and watch the command
// go from queued to awaiting the device to confirmed — and the relay state change — without a reload (the
// live channel), and a viewer who sees the meter but no switching buttons. Every request the page makes goes
// to the platform's own origin (no CDN). Real PostgreSQL and Mosquitto when DATABASE_URL / MQTT_URL are set.
//
// Needs Chromium: `apt-get install -y chromium` (CI installs it). Without it these tests are skipped with
// a message saying so, unless REQUIRE_BROWSER_TESTS=1 (CI sets it), where its absence fails the run.
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';
import { apiClient, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { POLL, browserAvailable, launchBrowser } from '../support/browser.ts';


let platform: TestPlatform;
let browser: Browser;
let device: MqttClient;
let api: ApiCall;
let meter: { id: string; meterNo: string; devEui: string };
/** Every URL the pages asked for. */
const requested: string[] = [];

beforeAll(async () => {
  if (!browserAvailable) return;
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5', SCHEDULER_ENABLED: 'false' });
  const operator = await platform.token('operator');
  api = apiClient(platform.httpUrl, () => operator);
  const devEui = randomEui();
  const meterNo = `BRW-${devEui.slice(0, 8).toUpperCase()}`;
  const created = await api<{ id: string }>('POST', '/meters', { meterNo, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });
  expect(created.status).toBe(201);
  meter = { id: created.body.id, meterNo, devEui };
  device = await mqtt.connectAsync(platform.mqttUrl, { clientId: `browser-test-${randomUUID().slice(0, 8)}`, ...platform.mqttAuth() });
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await device?.endAsync();
  await platform?.dispose();
});

async function signIn(role: 'admin' | 'operator' | 'viewer'): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('request', (r) => requested.push(r.url()));
  await page.goto(platform.httpUrl);
  await page.getByLabel('Token').fill(await platform.token(role));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-tile="meters"]').waitFor();
  return page;
}

describe.skipIf(!browserAvailable)('the operator portal in Chromium', () => {
  it('signs an operator in, finds the meter, and disconnects it through the confirmation, live to confirmed', async () => {
    const page = await signIn('operator');
    await page.locator('[data-live="live"]').waitFor();

    await page.locator('.topbar').getByRole('link', { name: 'Meters' }).click();
    await page.getByLabel('Search meters').fill(meter.meterNo);
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator(`tr[data-meter-no="${meter.meterNo}"]`);
    await expect.poll(() => row.locator('td.mono').textContent(), POLL).toBe(meter.devEui);
    await row.getByRole('link', { name: meter.meterNo }).click();

    await page.locator('.relay').getByRole('button', { name: 'Disconnect' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const says = await dialog.textContent();
    expect(says).toContain(`switches the relay of meter ${meter.meterNo} off`);
    expect(says).toContain('Class A');
    expect(says).toContain('awaiting device');
    // Without a reason nothing is sent.
    await dialog.getByRole('button', { name: 'Disconnect' }).click();
    expect(await dialog.getByRole('alert').textContent()).toContain('Say why');
    await dialog.getByLabel('Reason').fill('account in arrears (browser test)');
    await dialog.getByRole('button', { name: 'Disconnect' }).click();
    await dialog.waitFor({ state: 'detached' });

    // The command was queued through the same API, once.
    const commands = await api<{ items: { id: string; status: string; reason: string; requestedBy: string }[] }>('GET', `/meters/${meter.id}/commands`);
    expect(commands.body.items).toHaveLength(1);
    const [command] = commands.body.items;
    expect(command).toMatchObject({ reason: 'account in arrears (browser test)', requestedBy: 'local-operator' });
    expect(['queued', 'sent']).toContain(command?.status);
    expect(await page.getByRole('status').textContent()).toMatch(/^Disconnect queued/);
    const commandRow = page.locator(`tr[data-command-id="${command?.id}"]`);
    // The dispatcher hands it to the (simulated) network server, which holds it for the Class A device.
    await commandRow.getByText('awaiting device').waitFor();

    // The device's next uplink: the downlink goes out, the UC100 echoes the Modbus frame; the page follows live.
    await device.publishAsync(upTopic(meter.devEui), JSON.stringify(upEvent({ devEui: meter.devEui, fPort: 85, hex: 'ff0bff', fCnt: 1 })), { qos: 1 });
    await commandRow.locator('[data-command-status="confirmed"]').waitFor();
    await page.locator('[data-relay-state="off"]').waitFor();
    expect(await page.locator('.relay').textContent()).toContain("the meter's Modbus echo");
    await page.context().close();
  }, 90_000);

  it('registers a meter from the portal and shows a published uplink on its chart without a reload', async () => {
    const page = await signIn('operator');
    await page.locator('[data-live="live"]').waitFor();
    const devEui = randomEui();
    const meterNo = `REG-${devEui.slice(0, 8).toUpperCase()}`;

    await page.locator('.topbar').getByRole('link', { name: 'Meters' }).click();
    await page.getByRole('button', { name: 'Register meter' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Meter number').fill(meterNo);
    await dialog.getByLabel('Device').selectOption('milesight_em300_di');
    await dialog.getByLabel('DevEUI').fill(devEui);
    await dialog.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('heading', { name: `Meter ${meterNo}` }).waitFor();
    await page.getByText('No readings yet.').waitFor();
    // EM300-DI frame from the ingestion tests: 256 pulses = 0.256 kWh at 1000 pulses per kWh.
    await device.publishAsync(upTopic(devEui), JSON.stringify(upEvent({ devEui, fPort: 85, hex: '01755c05c800010000', fCnt: 1 })), { qos: 1 });

    await page.locator('.chart[data-points="1"] canvas').waitFor();
    expect(await page.locator('[data-latest-reading]').getAttribute('data-latest-reading')).toBe('0.256');
    await page.context().close();
  }, 60_000);

  it('shows a viewer the meter and its relay state but no switching button', async () => {
    // A reconnect scheduled for later stays pending: an operator could cancel it, a viewer cannot.
    const scheduledAt = new Date(Date.now() + 3600_000).toISOString();
    const pending = await api<{ id: string; status: string }>('POST', `/meters/${meter.id}/relay`, { action: 'on', reason: 'after payment window', scheduledAt });
    expect(pending.body.status).toBe('pending');
    const page = await signIn('viewer');

    await page.goto(`${platform.httpUrl}/#/meters/${meter.id}`);
    await page.locator('[data-relay-state]').waitFor();
    await page.locator(`tr[data-command-id="${pending.body.id}"]`).waitFor();

    expect(await page.locator('.who').getAttribute('data-roles')).toBe('viewer');
    expect(await page.getByRole('button', { name: 'Disconnect' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Reconnect' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    await page.locator('.topbar').getByRole('link', { name: 'Meters' }).click();
    await page.locator(`tr[data-meter-no="${meter.meterNo}"]`).waitFor();
    expect(await page.getByRole('button', { name: 'Register meter' }).count()).toBe(0);
    await page.context().close();
  }, 60_000);

  it('refuses a token the platform did not sign, and makes no request to another host', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(platform.httpUrl);
    await page.getByLabel('Token').fill('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiY29nbml0bzpncm91cHMiOlsiYWRtaW4iXX0.bm90LXNpZ25lZA');
    await page.getByRole('button', { name: 'Sign in' }).click();

    expect(await page.getByRole('alert').textContent()).toContain('The API refused this token');
    await context.close();
    const origin = new URL(platform.httpUrl).origin;
    const elsewhere = requested.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin && new URL(url).origin !== origin.replace(/^http/, 'ws'));
    expect(requested.length).toBeGreaterThan(5);
    expect(elsewhere).toEqual([]);
  }, 60_000);
});
