// The operator portal's money, history and parking pages in a real browser (Playwright driving Debian's
// Chromium, /usr/bin/chromium, launched by test/support/browser.ts): an operator allocates a suspense
// payment through its confirmation; an account page shows the balance and statement after a Daraja C2B
// payment, takes an STK Push and downloads its statement as CSV; a meter's consumption by day (gaps shown
// as gaps) and by hour; the parking grid by zone following a state change without reload, and an override
// with its actuation; a Daraja payment appearing on the open payments and account pages, and a parking
// sensor's uplink flipping a space on the open grid, through the live channel without reload (the pages do
// not poll while the channel is live); a viewer sees the figures but no money or switching action, and an
// admin the audit log; an admin creates a tariff and a new version through the forms (an invalid version
// shows the API's answer), a viewer gets no such form; an ESP32 balance report that disagrees with the
// ledger shows on the overview and the discrepancies list. Every action goes through the HTTP API (checked through it). Real PostgreSQL and Mosquitto when
// DATABASE_URL / MQTT_URL are set; the ledger invariants after the money tests.
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { esp32ReportTopic } from '#domain/topics';
import type { DarajaSimulator } from '#runtime/daraja-sim/index';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';
import { mqttUrl } from '../support/db.ts';
import { apiClient, eventually, type ApiCall } from '../support/http.ts';
import { meterWithCredentials } from '../support/meters.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { POLL, browserAvailable, launchBrowser } from '../support/browser.ts';


let platform: TestPlatform;
let browser: Browser;
let sim: DarajaSimulator;
let api: ApiCall;
let asAdmin: ApiCall;
let device: MqttClient;
/** Every URL the pages asked for. */
const requested: string[] = [];
const tag = () => randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase();

beforeAll(async () => {
  if (!browserAvailable) return;
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5', SCHEDULER_ENABLED: 'false', DARAJA_SIMULATOR_STK_DELAY_MS: '20' });
  sim = platform.payments.simulator as DarajaSimulator;
  const operator = await platform.token('operator');
  const admin = await platform.token('admin');
  api = apiClient(platform.httpUrl, () => operator);
  asAdmin = apiClient(platform.httpUrl, () => admin);
  device = await mqtt.connectAsync(platform.mqttUrl, { clientId: `pages-test-${randomUUID().slice(0, 8)}`, ...platform.mqttAuth() });
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await device?.endAsync();
  await browser?.close();
  await platform?.dispose();
});
afterEach(async () => {
  if (!browserAvailable) return;
  expect((await asAdmin<{ ok: boolean; violations: unknown[] }>('GET', '/admin/ledger/invariants')).body).toEqual({ ok: true, violations: [] });
});

async function signIn(role: 'admin' | 'operator' | 'viewer'): Promise<Page> {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.on('request', (r) => requested.push(r.url()));
  await page.goto(platform.httpUrl);
  await page.getByLabel('Token').fill(await platform.token(role));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-tile="meters"]').waitFor();
  return page;
}

async function newAccount(name: string) {
  const accountNo = `PG${tag()}`;
  const customer = await api<{ id: string }>('POST', '/customers', { name, phone: '+254712345678' });
  const account = await api<{ id: string; accountNo: string }>('POST', '/accounts', { customerId: customer.body.id, accountNo });
  expect(account.status).toBe(201);
  return account.body;
}

/** A C2B confirmation naming no account (validation would refuse it; confirmation alone keeps it in suspense). */
async function suspensePayment(amount: number, billRef: string): Promise<string> {
  const urls = await eventually('C2B URLs registered', () => Promise.resolve(sim.registeredUrls ?? undefined));
  const receipt = `S${tag()}X`;
  const confirm = await fetch(urls.ConfirmationURL, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ TransactionType: 'Pay Bill', TransID: receipt, TransTime: '20261130101010', TransAmount: amount.toFixed(2), BusinessShortCode: '174379', BillRefNumber: billRef, MSISDN: '2******8' }),
  });
  expect(confirm.status).toBe(200);
  return receipt;
}

/** Marks the page's document: the mark is still there afterwards only if the page was not reloaded. */
const markDocument = (page: Page) => page.evaluate(() => void ((globalThis as unknown as { liveMark?: string }).liveMark = 'kept'));
const documentMark = (page: Page) => page.evaluate(() => (globalThis as unknown as { liveMark?: string }).liveMark);

describe.skipIf(!browserAvailable)('the portal pages in Chromium', () => {
  it('shows a Daraja payment on the open payments page and the new balance on the open account page, live, without reload', async () => {
    const account = await newAccount('Wairimu Live');
    const page = await signIn('operator');
    await page.locator('[data-live="live"]').waitFor();
    await page.locator('.topbar').getByRole('link', { name: 'Payments' }).click();
    await page.getByRole('heading', { name: 'Payments' }).waitFor();
    await markDocument(page);

    const c2b = await sim.simulateC2b({ amount: 75, msisdn: '254712345678', billRef: account.accountNo });
    expect(c2b.confirmation?.status).toBe(200);
    const row = page.locator(`tr[data-receipt="${c2b.receipt}"]`);
    await row.waitFor({ timeout: 20_000 });

    expect(await row.textContent()).toContain('KES 75.00');
    expect(await documentMark(page)).toBe('kept');
    // The pages poll only while the channel is down: it stayed up, so the row came with the live event.
    expect(await page.locator('[data-live]').getAttribute('data-live')).toBe('live');

    // The account's page follows a second payment: balance, statement and payments.
    await page.goto(`${platform.httpUrl}/#/accounts/${account.id}`);
    await page.locator('[data-balance-minor="7500"]').waitFor();
    await page.locator('[data-live="live"]').waitFor();
    await markDocument(page);
    const second = await sim.simulateC2b({ amount: 25, msisdn: '254712345678', billRef: account.accountNo });
    expect(second.confirmation?.status).toBe(200);
    await page.locator('[data-balance-minor="10000"]').waitFor({ timeout: 20_000 });
    await page.locator(`table.payments tr[data-receipt="${second.receipt}"]`).waitFor({ timeout: 20_000 });
    expect(await documentMark(page)).toBe('kept');
    await page.context().close();
  }, 90_000);

  it("flips a space on the open parking grid when its sensor's uplink arrives, live, without reload", async () => {
    const zone = `Live ${tag()}`;
    const sensorEui = randomEui();
    const sensor = await api<{ id: string }>('POST', '/devices', { deviceType: 'browan_tabs', devEui: sensorEui });
    expect(sensor.status).toBe(201);
    const space = await api<{ id: string; code: string }>('POST', '/parking/spaces', { code: `S${tag()}`, name: 'Sensed bay', zone, sensorDeviceId: sensor.body.id });
    expect(space.status).toBe(201);
    const page = await signIn('operator');
    await page.locator('.topbar').getByRole('link', { name: 'Parking' }).click();
    const cell = (state: string) => page.locator(`section.zone[data-zone="${zone}"] [data-space-code="${space.body.code}"][data-space-state="${state}"]`);
    await cell('FREE').waitFor();
    await page.locator('[data-live="live"]').waitFor();
    await markDocument(page);

    // A Browan TABS occupancy uplink: occupied.
    await device.publishAsync(upTopic(sensorEui), JSON.stringify(upEvent({ devEui: sensorEui, fPort: 102, hex: '01FB060000CC0E00' })), { qos: 1 });
    await cell('OCCUPIED').waitFor({ timeout: 20_000 });

    expect(await documentMark(page)).toBe('kept');
    expect(await page.locator('[data-live]').getAttribute('data-live')).toBe('live');
    expect((await api<{ state: string }>('GET', `/parking/spaces/${space.body.id}`)).body.state).toBe('OCCUPIED');
    await page.context().close();
  }, 90_000);

  it('allocates a suspense payment to an account through the confirmation', async () => {
    const account = await newAccount('Njeri Wambui');
    const receipt = await suspensePayment(40, `TYPO-${tag()}`);
    const page = await signIn('operator');

    await page.locator('[data-tile="unallocated payments"]').click();
    await page.getByRole('heading', { name: 'Unallocated payments' }).waitFor();
    const row = page.locator(`tr[data-receipt="${receipt}"]`);
    await row.getByRole('button', { name: 'Allocate' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Account number to credit').fill(account.accountNo);
    await dialog.locator(`[data-allocate-to="${account.accountNo}"]`).waitFor();
    expect(await dialog.textContent()).toContain('This credits KES 40.00 to account');
    await dialog.getByRole('button', { name: 'Allocate' }).click();
    await dialog.waitFor({ state: 'detached' });

    expect(await page.getByRole('status').textContent()).toContain(`allocated to account ${account.accountNo}`);
    await row.waitFor({ state: 'detached' });
    const payments = await api<{ items: { receipt: string; status: string; accountId: string }[] }>('GET', `/payments?receipt=${receipt}`);
    expect(payments.body.items).toEqual([expect.objectContaining({ receipt, status: 'applied', accountId: account.id })]);
    expect((await api<{ balanceMinor: number }>('GET', `/accounts/${account.id}`)).body.balanceMinor).toBe(4_000);
    await page.context().close();
  }, 90_000);

  it('shows an account’s balance and statement after a Daraja payment, takes an STK Push and downloads the statement', async () => {
    const account = await newAccount('Achieng Otieno');
    const c2b = await sim.simulateC2b({ amount: 250, msisdn: '254712345678', billRef: account.accountNo.toLowerCase() });
    expect(c2b.confirmation?.status).toBe(200);
    const page = await signIn('operator');

    await page.locator('.topbar').getByRole('link', { name: 'Accounts' }).click();
    await page.getByLabel('Search accounts').fill('achieng');
    await page.getByRole('button', { name: 'Search' }).click();
    const listed = page.locator(`tr[data-account-no="${account.accountNo}"]`);
    expect(await listed.textContent()).toContain('Achieng Otieno');
    await listed.getByRole('link', { name: account.accountNo }).click();
    await page.locator('[data-balance-minor="25000"]').waitFor();
    expect(await page.locator('.big').textContent()).toBe('KES 250.00');
    // The statement and the payments load beside the account.
    const entry = page.locator('table.statement tr[data-entry-type="payment"]');
    await entry.waitFor();
    expect(await entry.count()).toBe(1);
    expect(await entry.textContent()).toContain('KES 250.00');
    await page.locator(`table.payments tr[data-receipt="${c2b.receipt}"]`).waitFor();

    await page.getByRole('button', { name: 'Request STK Push' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByLabel('Phone (E.164)').inputValue()).toBe('+254712345678');
    await dialog.getByLabel('Amount (KES)').fill('100');
    await dialog.getByRole('button', { name: 'Send STK Push' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await page.getByRole('status').textContent()).toMatch(/^STK Push \w+: KES 100\.00 asked of \+?254712345678\./);
    await sim.settled();
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('[data-balance-minor="35000"]').waitFor();
    await expect.poll(() => page.locator('table.statement tr[data-entry-type="payment"]').count(), POLL).toBe(2);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    expect(download.suggestedFilename()).toBe(`statement-${account.accountNo}.csv`);
    const csv = await readFile(await download.path(), 'utf8');
    expect(csv.split('\r\n')[0]).toBe('entryId,at,entryType,amountMinor,balanceAfterMinor,description,paymentId,reversesEntryId,reason,sourceRef');
    expect(csv.trim().split('\r\n')).toHaveLength(3);
    await page.context().close();
  }, 90_000);

  it("charts a meter's consumption by day with the days without readings as gaps, and by hour", async () => {
    const meterNo = `CH-${tag()}`;
    const created = await api<{ id: string }>('POST', '/meters', { meterNo, meterType: 'electricity', device: { deviceType: 'sdm630_modbus_tcp', config: { slaveId: 3 } } });
    expect(created.status).toBe(201);
    const day = 86_400_000;
    const now = Date.now();
    // Readings on four days out of the last five: day -2 has none (a gap).
    const readings = [
      [now - 4 * day, 100],
      [now - 3 * day, 112],
      [now - 1 * day, 130],
      [now - 60_000, 135],
    ].map(([t, energy]) => ({ meter_id: meterNo, energy, timestamp: new Date(t!).toISOString() }));
    const posted = await api<{ stored: number }>('POST', '/readings', { readings });
    expect(posted.body.stored).toBe(4);
    const page = await signIn('viewer');

    await page.goto(`${platform.httpUrl}/#/meters/${created.body.id}`);
    const chart = page.locator('.chart[data-interval="day"]');
    await chart.locator('canvas').waitFor();
    expect(Number(await chart.getAttribute('data-buckets'))).toBeGreaterThanOrEqual(31);
    // Of the last 31 days only those with a reading carry a value; the others are gaps.
    expect(Number(await chart.getAttribute('data-gaps'))).toBeGreaterThanOrEqual(26);
    expect(await page.getByRole('group', { name: 'Consumption interval' }).textContent()).toContain('35 kWh in all');

    await page.getByRole('button', { name: 'by hour' }).click();
    await page.locator('.chart[data-interval="hour"] canvas').waitFor();
    expect(Number(await page.locator('.chart[data-interval="hour"]').getAttribute('data-buckets'))).toBeGreaterThanOrEqual(48);
    await page.context().close();
  }, 60_000);

  it('shows the parking grid by zone, follows a change without reload, and overrides a space with its actuation, and reserves one', async () => {
    const zone = `Zone ${tag()}`;
    const codes = [`P${tag()}`, `P${tag()}`, `P${tag()}`];
    const spaces: { id: string; code: string }[] = [];
    // The first space has a display (a Kuando Busylight): an override actuates it.
    const display = await api<{ id: string }>('POST', '/devices', { deviceType: 'kuando_busylight', devEui: randomEui() });
    expect(display.status).toBe(201);
    for (const [i, code] of codes.entries()) {
      const r = await api<{ id: string; code: string }>('POST', '/parking/spaces', { code, name: `Bay ${code}`, zone, ...(i === 0 ? { displayDeviceId: display.body.id } : {}) });
      expect(r.status).toBe(201);
      spaces.push(r.body);
    }
    const [a, b, c] = spaces as [{ id: string; code: string }, { id: string; code: string }, { id: string; code: string }];
    const page = await signIn('operator');

    await page.locator('.topbar').getByRole('link', { name: 'Parking' }).click();
    const grid = page.locator(`section.zone[data-zone="${zone}"]`);
    await grid.locator(`[data-space-code="${a.code}"][data-space-state="FREE"]`).waitFor();
    expect(await grid.locator('.space').count()).toBe(3);
    expect(await grid.locator('h2').textContent()).toContain('3 free of 3');
    // Another operator reserves a space through the API: the grid shows it without a reload.
    const reserved = await api('POST', `/parking/spaces/${b.id}/reservations`, { from: new Date(Date.now() - 60_000).toISOString(), to: new Date(Date.now() + 3600_000).toISOString(), reference: 'VIP visitor' });
    expect(reserved.status).toBe(201);
    await grid.locator(`[data-space-code="${b.code}"][data-space-state="RESERVED"]`).waitFor({ timeout: 20_000 });

    await grid.locator(`[data-space-code="${a.code}"]`).click();
    await page.getByRole('heading', { name: `Space ${a.code}` }).waitFor();
    await page.getByLabel('Override to').selectOption('MAINTENANCE');
    await page.getByRole('button', { name: 'Override' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill('bollard repair (browser test)');
    await dialog.getByRole('button', { name: 'Override' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('.card[data-space-state="MAINTENANCE"]').waitFor();
    await page.locator('tr[data-trigger="manual_override"]').waitFor();

    const space = await api<{ state: string; overrideReason: string; overrideBy: string }>('GET', `/parking/spaces/${a.id}`);
    expect(space.body).toMatchObject({ state: 'MAINTENANCE', overrideReason: 'bollard repair (browser test)', overrideBy: 'local-operator' });

    // A reservation made on the page, for the next two hours (the dialog's default window).
    await page.goto(`${platform.httpUrl}/#/parking/${c.id}`);
    await page.getByRole('button', { name: 'Reserve' }).click();
    const reserve = page.getByRole('dialog');
    await reserve.getByLabel('Reference').fill('KDA 123X');
    await reserve.getByRole('button', { name: 'Reserve' }).click();
    await reserve.waitFor({ state: 'detached' });
    await page.locator('tr[data-reservation="KDA 123X"]').waitFor();
    await page.locator('.card[data-space-state="RESERVED"]').waitFor();
    await page.context().close();
  }, 90_000);

  it('shows a viewer the money figures but no money or switching action, and an admin the audit log', async () => {
    const account = await newAccount('Viewer Check');
    const receipt = await suspensePayment(15, `NOPE-${tag()}`);
    const space = await api<{ id: string }>('POST', '/parking/spaces', { code: `V${tag()}`, name: 'Viewer bay', zone: 'Viewer' });
    const viewer = await signIn('viewer');

    await expect.poll(async () => Number(await viewer.locator('[data-tile="unallocated payments"] .tile-value').textContent()), POLL).toBeGreaterThanOrEqual(1);
    await viewer.goto(`${platform.httpUrl}/#/payments?status=suspense`);
    await viewer.locator(`tr[data-receipt="${receipt}"]`).waitFor();
    expect(await viewer.getByRole('button', { name: 'Allocate' }).count()).toBe(0);
    await viewer.goto(`${platform.httpUrl}/#/accounts/${account.id}`);
    await viewer.locator('[data-balance-minor="0"]').waitFor();
    expect(await viewer.getByRole('button', { name: 'Request STK Push' }).count()).toBe(0);
    await viewer.goto(`${platform.httpUrl}/#/parking/${space.body.id}`);
    await viewer.locator('.card[data-space-state="FREE"]').waitFor();
    expect(await viewer.getByRole('button', { name: 'Override' }).count()).toBe(0);
    expect(await viewer.locator('.topbar').getByRole('link', { name: 'Audit' }).count()).toBe(0);
    await viewer.context().close();

    const admin = await signIn('admin');
    await admin.locator('.topbar').getByRole('link', { name: 'Audit' }).click();
    await admin.getByLabel('Filter by targetId').fill(account.id);
    await admin.getByRole('button', { name: 'Filter' }).click();
    // The unfiltered page answers first; the filtered one replaces it.
    await expect.poll(() => admin.locator('tbody tr').count(), POLL).toBe(1);
    expect(await admin.locator('tbody tr').getAttribute('data-action')).toBe('account.create');
    expect(await admin.locator('tbody tr').textContent()).toContain(account.id);
    await admin.context().close();

    const origin = new URL(platform.httpUrl).origin;
    const elsewhere = requested.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin && new URL(url).origin !== origin.replace(/^http/, 'ws'));
    expect(elsewhere).toEqual([]);
  }, 90_000);
  it('lets an admin create a tariff and a new version through the forms, shows the API refusing an invalid version, and gives a viewer no form', async () => {
    const name = `Domestic ${tag()}`;
    const page = await signIn('admin');
    await page.locator('.topbar').getByRole('link', { name: 'Tariffs' }).click();
    await page.getByRole('button', { name: 'New tariff' }).click();
    const dialog = page.getByRole('dialog', { name: 'New tariff' });
    await dialog.getByLabel('Tariff name').fill(name);
    await dialog.getByRole('group', { name: 'Component 1' }).getByLabel('Rate (KES per kWh)').fill('16.55');
    await dialog.getByRole('button', { name: '+ component' }).click();
    const standing = dialog.getByRole('group', { name: 'Component 2' });
    await standing.getByLabel('Id', { exact: true }).fill('standing');
    await standing.getByLabel('Amount (KES)').fill('150');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });

    // The list reloads with the new tariff; its page shows version 1 as priced.
    const row = page.locator(`tr[data-tariff="${name}"]`);
    await row.waitFor();
    expect(await page.getByRole('status').textContent()).toContain(`Tariff ${name} saved`);
    await row.getByRole('link', { name }).click();
    const v1 = page.locator('.card[data-version="1"]');
    await v1.waitFor();
    expect(await v1.textContent()).toContain('KES 16.55 per kWh');
    expect(await v1.textContent()).toContain('KES 150.00 per month');
    const id = new URL(page.url()).hash.split('/').pop()!;
    const created = await api<{ name: string; versions: { components: unknown[] }[] }>('GET', `/tariffs/${id}`);
    expect(created.body.name).toBe(name);
    expect(created.body.versions[0]!.components).toEqual([
      { id: 'energy', kind: 'flat', rateMinor: '1655' },
      { id: 'standing', kind: 'fixed', per: 'month', amountMinor: '15000' },
    ]);

    // A new version, prefilled from version 1, from midnight in three days (browser and test share the machine's time zone): a finer rate, and VAT.
    await page.getByRole('button', { name: 'New version' }).click();
    const next = page.getByRole('dialog', { name: `New version of ${name}` });
    const start = new Date(Date.now() + 3 * 86_400_000);
    start.setHours(0, 0, 0, 0);
    const pad = (n: number) => String(n).padStart(2, '0');
    await next.getByLabel('Effective from').fill(`${start.getFullYear()}-${pad(start.getMonth() + 1)}-${pad(start.getDate())}T00:00`);
    const energy = next.getByRole('group', { name: 'Component 1' }).getByLabel('Rate (KES per kWh)');
    expect(await energy.inputValue()).toBe('16.55');
    await energy.fill('17.205');
    await next.getByRole('button', { name: '+ component' }).click();
    const vat = next.getByRole('group', { name: 'Component 3' });
    await vat.getByLabel('Kind').selectOption('percent_tax');
    await vat.getByLabel('Id', { exact: true }).fill('vat');
    await vat.getByLabel('Percent').fill('16');
    await vat.getByLabel('Applies to (component ids)').fill('energy, standing');
    await next.getByLabel('Note').fill('2027 review');
    await next.getByRole('button', { name: 'Save' }).click();
    await next.waitFor({ state: 'detached' });
    const v2 = page.locator('.card[data-version="2"]');
    await v2.waitFor();
    expect(await v2.textContent()).toContain('scheduled');
    expect(await v2.textContent()).toContain('KES 17.205 per kWh');
    expect(await v2.textContent()).toContain('16 % on energy, standing');
    expect(await page.getByRole('status').textContent()).toContain('Version 2 saved');
    const versions = (await api<{ versions: { effectiveFrom: string; note: string; components: { id: string; rateMinor?: string }[] }[] }>('GET', `/tariffs/${id}`)).body.versions;
    expect(versions).toHaveLength(2);
    expect(versions[1]).toMatchObject({ note: '2027 review', components: [{ id: 'energy', rateMinor: '1720.5' }, { id: 'standing' }, { id: 'vat', kind: 'percent_tax', percent: '16' }] });
    expect(new Date(versions[1]!.effectiveFrom).toISOString()).toBe(start.toISOString());

    // An invalid version (a tax on a component the version does not have): the API's issue beside the form, nothing saved.
    await page.getByRole('button', { name: 'New version' }).click();
    const invalid = page.getByRole('dialog', { name: `New version of ${name}` });
    await invalid.getByRole('group', { name: 'Component 3' }).getByLabel('Applies to (component ids)').fill('water');
    await invalid.getByRole('button', { name: 'Save' }).click();
    const refusal = invalid.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('vat applies to unknown component water');
    // A rate that is not an amount is refused before it is sent.
    await invalid.getByRole('group', { name: 'Component 1' }).getByLabel('Rate (KES per kWh)').fill('17,20');
    await invalid.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => refusal.textContent(), POLL).toContain('rate “17,20” is not an amount');
    await invalid.getByRole('button', { name: 'Cancel' }).click();
    await invalid.waitFor({ state: 'detached' });
    expect((await api<{ versions: unknown[] }>('GET', `/tariffs/${id}`)).body.versions).toHaveLength(2);
    await page.context().close();

    // A viewer reads the tariffs but gets no form.
    const viewer = await signIn('viewer');
    await viewer.locator('.topbar').getByRole('link', { name: 'Tariffs' }).click();
    await viewer.locator(`tr[data-tariff="${name}"]`).waitFor();
    expect(await viewer.getByRole('button', { name: 'New tariff' }).count()).toBe(0);
    await viewer.goto(`${platform.httpUrl}/#/tariffs/${id}`);
    await viewer.locator('.card[data-version="2"]').waitFor();
    expect(await viewer.getByRole('button', { name: 'New version' }).count()).toBe(0);
    await viewer.context().close();
  }, 90_000);

  it('shows an ESP32 balance report that disagrees with the ledger on the overview and the discrepancies list', async () => {
    const account = await newAccount('Mwangi Discrepancy');
    const meter = await meterWithCredentials(api, 'D');
    const meterId = (await api<{ id: string }>('GET', `/meters/${meter.meterNo}`)).body.id;
    expect((await api('POST', `/meters/${meterId}/account`, { accountId: account.id })).status).toBe(200);
    // The meter itself (Mosquitto in the tests takes anonymous clients) reports KES 20 while the ledger says 0.
    const esp32 = await mqtt.connectAsync(platform.mqttUrl, { clientId: meter.meterNo, reconnectPeriod: 0, ...(mqttUrl ? {} : { username: meter.username, password: meter.password }) });
    try {
      await esp32.publishAsync(esp32ReportTopic(meter.meterNo, 'balance'), JSON.stringify({ balance: 20, timestamp: Math.floor(Date.now() / 1000) }), { qos: 1 });
    } finally {
      await esp32.endAsync();
    }
    // Recorded, and answered with the correct balance (its resync command).
    await eventually('discrepancy recorded and answered', async () => {
      const listed = await api<{ items: { resyncCommandId: string | null }[] }>('GET', `/balance-discrepancies?meter=${meter.meterNo}`);
      return listed.body.items[0]?.resyncCommandId ? true : undefined;
    });

    const page = await signIn('viewer');
    await expect.poll(async () => Number(await page.locator('[data-tile="balance discrepancies"] .tile-value').textContent()), POLL).toBeGreaterThanOrEqual(1);
    await page.locator('[data-tile="balance discrepancies"]').click();
    await page.getByRole('heading', { name: 'Balance discrepancies' }).waitFor();
    const row = page.locator(`tr[data-discrepancy="${meter.meterNo}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(1, 7)).toEqual([meter.meterNo, 'account', '20', '0', '20', '1']);
    expect(cells[8]).toBe('balance sent again');

    // From the meter's page: its own discrepancies only.
    await row.getByRole('link', { name: meter.meterNo }).click();
    await page.getByRole('link', { name: 'balance discrepancies' }).click();
    await expect.poll(() => page.getByLabel('Filter by meter').inputValue(), POLL).toBe(meter.meterNo);
    await expect.poll(() => page.locator('tbody tr').count(), POLL).toBe(1);
    expect(await page.locator('tbody tr').getAttribute('data-discrepancy')).toBe(meter.meterNo);
    await page.context().close();
  }, 90_000);
});
