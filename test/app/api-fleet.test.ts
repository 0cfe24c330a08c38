// Operating the fleet through the API: devices and meters changed in place (config checked against the
// device type, lifecycle moves, audited before/after), found by their numbers, listed with filters and
// totals, strict about query parameters; device events and commands read per device and across the fleet.
// Through the handler the Lambda runs, on the local driver and through the RDS Data API.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

const uniqueNo = () => `F${Math.random().toString(36).slice(2, 10)}`;
const uniqueEui = () => Array.from({ length: 16 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('fleet API via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;
  const enqueued: string[] = [];

  beforeAll(async () => {
    testDb = await open();
    logger.setLogLevel('SILENT');
    const handler = createApiHandler({
      db: testDb.db,
      logger,
      now: () => new Date(),
      healthChecks: {},
      ingest: async () => {
        throw new Error('not used');
      },
      commandQueue: { enqueue: async (ids) => void enqueued.push(...ids) },
    });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterAll(async () => {
    await testDb.close();
  });

  const auditOf = async (targetId: string) =>
    (await sql<{ action: string; actor: string; details: Record<string, unknown> }>`SELECT action, actor, details FROM audit_log WHERE target_id = CAST(${targetId} AS text) ORDER BY id`.execute(testDb.db)).rows;

  describe('PATCH /devices/{id}', () => {
    it("fixes a UC100's channel map by merging it into the stored config, and audits before and after", async () => {
      const device = await call({ method: 'POST', path: '/devices', body: { deviceType: 'milesight_uc100', devEui: uniqueEui() } });

      const res = await call({ method: 'PATCH', path: `/devices/${String(device.body.id)}`, role: 'operator', body: { config: { channels: { '1': 'energyImportKwh', '2': { field: 'voltageV', scale: 0.1 } } }, model: 'UC100-868M' } });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ model: 'UC100-868M', config: { passThroughFPort: 5, relay: { method: 'coil', slaveId: 1, coil: 0 }, channels: { '1': 'energyImportKwh', '2': { field: 'voltageV', scale: 0.1 } } } });
      const entries = await auditOf(String(device.body.id));
      expect(entries.at(-1)).toMatchObject({ action: 'device.update', actor: 'user-operator', details: { before: { model: 'UC100', config: { passThroughFPort: 5 } }, after: { model: 'UC100-868M', config: { channels: { '1': 'energyImportKwh' } } } } });
      expect(entries.at(-1)?.details.before).not.toHaveProperty('lifecycle');
    });

    it('removes a config key given as null and merges nested objects key by key', async () => {
      const device = await call({ method: 'POST', path: '/devices', body: { deviceType: 'milesight_uc100', devEui: uniqueEui(), config: { channels: { '1': 'energyImportKwh', '2': 'voltageV' } } } });

      const res = await call({ method: 'PATCH', path: `/devices/${String(device.body.id)}`, body: { config: { channels: { '2': null }, confirmed: null } } });

      expect(res.status).toBe(200);
      expect(res.body.config).toEqual({ passThroughFPort: 5, relay: { method: 'coil', slaveId: 1, coil: 0 }, channels: { '1': 'energyImportKwh' } });
    });

    it("refuses a config the device type's schema does not accept, naming the field, and changes nothing", async () => {
      const device = await call({ method: 'POST', path: '/devices', body: { deviceType: 'milesight_em300_di', devEui: uniqueEui() } });

      const res = await call({ method: 'PATCH', path: `/devices/${String(device.body.id)}`, body: { config: { pulsesPerUnit: -5 } } });
      const display = await call({ method: 'POST', path: '/devices', body: { deviceType: 'kuando_busylight', devEui: uniqueEui(), config: { fPort: 0 } } });

      expect(res).toMatchObject({ status: 400, body: { errors: [{ path: 'body.config.pulsesPerUnit' }] } });
      expect(display).toMatchObject({ status: 400, body: { errors: [{ path: 'body.config.fPort' }] } });
      const after = await call({ method: 'GET', path: `/devices/${String(device.body.id)}` });
      expect(after.body.config).toEqual({ pulsesPerUnit: 1000 });
    });

    it('moves a device installed → active → decommissioned, and never back from decommissioned', async () => {
      const device = await call({ method: 'POST', path: '/devices', body: { deviceType: 'browan_tabs', devEui: uniqueEui(), lifecycle: 'installed' } });
      const id = String(device.body.id);

      const active = await call({ method: 'PATCH', path: `/devices/${id}`, body: { lifecycle: 'active' } });
      const gone = await call({ method: 'PATCH', path: `/devices/${id}`, body: { lifecycle: 'decommissioned' } });
      const back = await call({ method: 'PATCH', path: `/devices/${id}`, body: { lifecycle: 'active' } });
      const edit = await call({ method: 'PATCH', path: `/devices/${id}`, body: { model: 'x' } });

      expect([active.body.lifecycle, gone.body.lifecycle]).toEqual(['active', 'decommissioned']);
      expect(back).toMatchObject({ status: 409, body: { from: 'decommissioned', to: 'active' } });
      expect(edit.status).toBe(400);
      expect((await auditOf(id)).map((e) => e.action)).toEqual(['device.create', 'device.update', 'device.decommission']);
    });

    it('refuses an empty patch, an unknown field, a viewer, and an unknown device', async () => {
      const device = await call({ method: 'POST', path: '/devices', body: { deviceType: 'browan_tabs', devEui: uniqueEui() } });
      const path = `/devices/${String(device.body.id)}`;

      const empty = await call({ method: 'PATCH', path, body: {} });
      const unknownField = await call({ method: 'PATCH', path, body: { devEui: uniqueEui() } });
      const viewer = await call({ method: 'PATCH', path, role: 'viewer', body: { model: 'x' } });
      const missing = await call({ method: 'PATCH', path: '/devices/00000000-0000-4000-8000-000000000000', body: { model: 'x' } });

      expect([empty.status, unknownField.status, viewer.status, missing.status]).toEqual([400, 400, 403, 404]);
    });
  });

  describe('PATCH /meters/{id}', () => {
    it('changes the prepaid and active flags by meter number, audited before and after', async () => {
      const meterNo = uniqueNo();
      const meter = await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'water', serialNumber: 'S-1' } });

      const res = await call({ method: 'PATCH', path: `/meters/${meterNo}`, role: 'operator', body: { isPrepaid: false, isActive: false, serialNumber: null } });

      expect(res).toMatchObject({ status: 200, body: { id: meter.body.id, isPrepaid: false, isActive: false, serialNumber: null, meterType: 'water' } });
      expect((await auditOf(String(meter.body.id))).at(-1)).toMatchObject({ action: 'meter.update', details: { before: { is_prepaid: true, is_active: true, serial_number: 'S-1' }, after: { is_prepaid: false, is_active: false, serial_number: null } } });
    });

    it('refuses a change of the meter type (its identity) and a wrongly typed flag', async () => {
      const meter = await call({ method: 'POST', path: '/meters', body: { meterNo: uniqueNo(), meterType: 'water' } });

      const type = await call({ method: 'PATCH', path: `/meters/${String(meter.body.id)}`, body: { meterType: 'electricity' } });
      const flag = await call({ method: 'PATCH', path: `/meters/${String(meter.body.id)}`, body: { isPrepaid: 'no' } });

      expect(type).toMatchObject({ status: 400, body: { errors: [{ path: 'body.(root)', message: expect.stringContaining('meterType') as string }] } });
      expect(flag).toMatchObject({ status: 400, body: { errors: [{ path: 'body.isPrepaid' }] } });
    });
  });

  describe('finding and listing', () => {
    it('finds a meter by its number as well as its id', async () => {
      const meterNo = uniqueNo();
      const created = await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'electricity' } });

      const byNo = await call({ method: 'GET', path: `/meters/${meterNo}` });
      const missing = await call({ method: 'GET', path: `/meters/${uniqueNo()}` });

      expect(byNo).toMatchObject({ status: 200, body: { id: created.body.id, meterNo } });
      expect(missing.status).toBe(404);
    });

    it('finds a meter whose number looks like a UUID', async () => {
      const meterNo = '6f1c1f4e-2b8a-4c55-9d7e-0a1b2c3d4e5f'.replace(/^.{4}/, Math.random().toString(16).slice(2, 6));
      await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'electricity' } });

      const byNo = await call({ method: 'GET', path: `/meters/${meterNo}` });
      const listed = await call({ method: 'GET', path: '/meters', query: { meterNo } });

      expect(byNo).toMatchObject({ status: 200, body: { meterNo } });
      expect(listed.body).toMatchObject({ total: 1, items: [{ meterNo }] });
    });

    it('filters meters by number, serial and site, with the total and a stable order', async () => {
      const site = await call({ method: 'POST', path: '/sites', body: { code: uniqueNo(), name: 'Estate' } });
      const siteId = String(site.body.id);
      const numbers = [uniqueNo(), uniqueNo(), uniqueNo()];
      for (const [i, meterNo] of numbers.entries()) {
        await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'electricity', siteId, serialNumber: `SER-${meterNo}`, isPrepaid: i !== 2 } });
      }

      const page1 = await call({ method: 'GET', path: '/meters', query: { siteId, limit: '2' } });
      const page2 = await call({ method: 'GET', path: '/meters', query: { siteId, limit: '2', offset: '2' } });
      const bySerial = await call({ method: 'GET', path: '/meters', query: { serialNumber: `SER-${numbers[1]}` } });
      const byNo = await call({ method: 'GET', path: '/meters', query: { meterNo: numbers[2]! } });
      const postpaid = await call({ method: 'GET', path: '/meters', query: { siteId, isPrepaid: 'false' } });

      expect(page1.body).toMatchObject({ total: 3, limit: 2, offset: 0 });
      expect([...(page1.body.items as { meterNo: string }[]), ...(page2.body.items as { meterNo: string }[])].map((m) => m.meterNo)).toEqual(numbers);
      expect(bySerial.body).toMatchObject({ total: 1, items: [{ meterNo: numbers[1] }] });
      expect(byNo.body).toMatchObject({ total: 1, items: [{ meterNo: numbers[2] }] });
      expect(postpaid.body).toMatchObject({ total: 1, items: [{ meterNo: numbers[2] }] });
    });

    it('filters devices by DevEUI (any case), by the meter they serve, and by lifecycle', async () => {
      const devEui = uniqueEui();
      const meterNo = uniqueNo();
      const meter = await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui, lifecycle: 'installed' } } });
      const deviceId = (meter.body.device as { id: string }).id;

      const byEui = await call({ method: 'GET', path: '/devices', query: { devEui: devEui.toUpperCase() } });
      const byMeter = await call({ method: 'GET', path: '/devices', query: { meterNo } });
      const installed = await call({ method: 'GET', path: '/devices', query: { devEui, lifecycle: 'installed' } });
      const active = await call({ method: 'GET', path: '/devices', query: { devEui, lifecycle: 'active' } });

      expect(byEui.body).toMatchObject({ total: 1, items: [{ id: deviceId }] });
      expect(byMeter.body).toMatchObject({ total: 1, items: [{ id: deviceId }] });
      expect(installed.body).toMatchObject({ total: 1 });
      expect(active.body).toMatchObject({ total: 0, items: [] });
    });

    it('answers an unknown query parameter with a 400 naming it, on every list', async () => {
      const paths = ['/meters', '/devices', '/sites', '/commands', '/quarantine'];

      const results = await Promise.all(paths.map((path) => call({ method: 'GET', path, query: { meterno: 'x' } })));
      const onOne = await call({ method: 'GET', path: '/health', role: 'none', query: { verbose: '1' } });

      for (const res of results) expect(res).toMatchObject({ status: 400, body: { errors: [{ path: 'query.(root)', message: expect.stringContaining('meterno') as string }] } });
      expect(onOne.status).toBe(400);
    });
  });

  describe('device events and commands', () => {
    it("lists a device's join and status events, newest first, by type and time", async () => {
      const device = await call({ method: 'POST', path: '/devices', body: { deviceType: 'browan_tabs', devEui: uniqueEui() } });
      const id = String(device.body.id);
      const key = uniqueNo();
      await sql`
        INSERT INTO device_events (device_id, event_type, event_time, level, code, description, details, source_key) VALUES
          (${id}::uuid, 'join', '2026-11-01T10:00:00Z', NULL, NULL, NULL, '{"devAddr":"01020304"}'::jsonb, ${`${key}-1`}),
          (${id}::uuid, 'status', '2026-11-01T11:00:00Z', NULL, NULL, NULL, '{"batteryLevel":90}'::jsonb, ${`${key}-2`}),
          (${id}::uuid, 'log', '2026-11-01T12:00:00Z', 'ERROR', 'UPLINK_CODEC', 'codec failed', NULL, ${`${key}-3`})`.execute(testDb.db);

      const all = await call({ method: 'GET', path: `/devices/${id}/events` });
      const joinStatus = await call({ method: 'GET', path: `/devices/${id}/events`, query: { type: 'join,status' } });
      const window = await call({ method: 'GET', path: `/devices/${id}/events`, query: { from: '2026-11-01T10:30:00Z', to: '2026-11-01T12:00:00Z' } });
      const errors = await call({ method: 'GET', path: `/devices/${id}/events`, query: { level: 'ERROR' } });
      const unknown = await call({ method: 'GET', path: '/devices/00000000-0000-4000-8000-000000000000/events' });

      expect((all.body.items as { type: string }[]).map((e) => e.type)).toEqual(['log', 'status', 'join']);
      expect(all.body.total).toBe(3);
      expect(joinStatus.body).toMatchObject({ total: 2, items: [{ type: 'status', details: { batteryLevel: 90 } }, { type: 'join', details: { devAddr: '01020304' } }] });
      expect(window.body).toMatchObject({ total: 1, items: [{ type: 'status' }] });
      expect(errors.body).toMatchObject({ total: 1, items: [{ code: 'UPLINK_CODEC', description: 'codec failed' }] });
      expect(unknown.status).toBe(404);
    });

    it("lists a device's commands and the fleet's by status, type and time", async () => {
      const meter = await call({ method: 'POST', path: '/meters', body: { meterNo: uniqueNo(), meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui: uniqueEui() } } });
      const deviceId = (meter.body.device as { id: string }).id;
      const before = new Date(Date.now() - 1000).toISOString();
      const on = await call({ method: 'POST', path: `/meters/${String(meter.body.id)}/relay`, body: { action: 'on', reason: 'test' } });
      const off = await call({ method: 'POST', path: `/meters/${String(meter.body.id)}/relay`, body: { action: 'off', reason: 'test' } });
      await call({ method: 'POST', path: `/commands/${String(off.body.id)}/cancel`, body: {} });

      const ofDevice = await call({ method: 'GET', path: `/devices/${deviceId}/commands` });
      const cancelled = await call({ method: 'GET', path: '/commands', query: { status: 'cancelled', type: 'relay_off', from: before } });
      const relayOn = await call({ method: 'GET', path: '/commands', query: { type: 'relay_on', from: before } });
      const future = await call({ method: 'GET', path: '/commands', query: { from: '2100-01-01T00:00:00Z' } });
      const badType = await call({ method: 'GET', path: '/commands', query: { type: 'reboot' } });

      expect(ofDevice.body).toMatchObject({ total: 2, items: [{ id: off.body.id }, { id: on.body.id }] });
      expect((cancelled.body.items as { id: string }[]).map((c) => c.id)).toContain(off.body.id);
      expect((cancelled.body.items as { status: string }[]).every((c) => c.status === 'cancelled')).toBe(true);
      expect((relayOn.body.items as { id: string }[]).map((c) => c.id)).toContain(on.body.id);
      expect((relayOn.body.items as { type: string }[]).every((c) => c.type === 'relay_on')).toBe(true);
      expect(future.body).toMatchObject({ total: 0, items: [] });
      expect(badType).toMatchObject({ status: 400, body: { errors: [{ path: 'query.type' }] } });
    });
  });
});
