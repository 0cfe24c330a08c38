// The HTTP API's registry routes, through the same handler the Lambda runs, on a real database
// (PostgreSQL when DATABASE_URL is set, PGlite otherwise), reached both through the local driver and
// through the RDS Data API as the deployed Lambda reaches it (test/support/data-api.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sql } from 'kysely';
import { createApiHandler } from '#app/api/index';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

const uniqueNo = () => `M${Math.random().toString(36).slice(2, 10)}`;
const uniqueEui = () => Array.from({ length: 16 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('registry API via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;

  beforeAll(async () => {
    testDb = await open();
    logger.setLogLevel('SILENT');
    const handler = createApiHandler({ db: testDb.db, logger, now: () => new Date(), healthChecks: { broker: async () => true }, ingest: async () => { throw new Error('not used'); }, commandQueue: { enqueue: async () => undefined } });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterAll(async () => {
    await testDb.close();
  });

    it('registers a meter with its LoRaWAN device and lists it', async () => {
      const meterNo = uniqueNo();
      const devEui = uniqueEui().toUpperCase();

      const created = await call({ method: 'POST', path: '/meters', role: 'operator', body: { meterNo, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui, config: { pulsesPerUnit: 800 } } } });

      expect(created.status).toBe(201);
      expect(created.headers.location).toBe(`/meters/${String(created.body.id)}`);
      expect(created.body).toMatchObject({ meterNo, unit: 'kWh', communicationStatus: 'unknown', device: { devEui: devEui.toLowerCase(), decoder: 'milesight_em300_di', config: { pulsesPerUnit: 800 } } });
      const fetched = await call({ method: 'GET', path: `/meters/${String(created.body.id)}`, role: 'viewer' });
      expect(fetched.status).toBe(200);
      expect(fetched.body).toMatchObject({ meterNo, device: { devEui: devEui.toLowerCase() } });
      const list = await call({ method: 'GET', path: '/meters', role: 'viewer', query: { limit: '500' } });
      expect((list.body.items as { meterNo: string }[]).map((m) => m.meterNo)).toContain(meterNo);
    });

    it('applies the device profile defaults under the operator config', async () => {
      const res = await call({ method: 'POST', path: '/devices', role: 'admin', body: { deviceType: 'kuando_busylight', devEui: uniqueEui(), config: { fPort: 16 } } });

      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ capabilities: { display: true }, config: { fPort: 16, displayCodes: { FREE: '0000FF6400' } } });
    });

    // The profile defaults are merged key by key under what the operator registers (these were the
    // assertions on domain/display.ts's second catalogue, removed as unused; device-profiles.ts is the one).
    it('overrides the profile defaults key by key with the registering config', async () => {
      const res = await call({ method: 'POST', path: '/devices', body: { deviceType: 'kuando_busylight', devEui: uniqueEui(), config: { displayCodes: { FREE: '00FF00FF00' }, confirmed: true } } });

      expect(res.status).toBe(201);
      expect(res.body.config).toEqual({ displayCodes: { FREE: '00FF00FF00' }, fPort: 15, confirmed: true });
    });

    it('gives a UC100 its pass-through port and relay, and an EM300-DI the pulses per unit it is given', async () => {
      const uc100 = await call({ method: 'POST', path: '/devices', body: { deviceType: 'milesight_uc100', devEui: uniqueEui() } });
      const em300 = await call({ method: 'POST', path: '/devices', body: { deviceType: 'milesight_em300_di', devEui: uniqueEui(), config: { pulsesPerUnit: 100 } } });

      expect(uc100.body.config).toEqual({ passThroughFPort: 5, relay: { method: 'coil', slaveId: 1, coil: 0 }, confirmed: false });
      expect(em300.body.config).toEqual({ pulsesPerUnit: 100 });
    });

    it('swaps the device serving a meter and keeps the history', async () => {
      const meter = await call({ method: 'POST', path: '/meters', body: { meterNo: uniqueNo(), meterType: 'water', device: { deviceType: 'qalcosonic_w1', devEui: uniqueEui() } } });
      const replacement = await call({ method: 'POST', path: '/devices', body: { deviceType: 'qalcosonic_w1', devEui: uniqueEui() } });

      const swapped = await call({ method: 'POST', path: `/meters/${String(meter.body.id)}/devices`, body: { deviceId: replacement.body.id } });

      expect(swapped.status).toBe(200);
      const now = await call({ method: 'GET', path: `/meters/${String(meter.body.id)}` });
      expect((now.body.device as { id: string }).id).toBe(replacement.body.id);
      const history = await testDb.db.selectFrom('meter_devices').selectAll().where('meter_id', '=', String(meter.body.id)).orderBy('id').execute();
      expect(history).toHaveLength(2);
      expect(history[0]?.valid_to).not.toBeNull();
      expect(history[1]?.valid_to).toBeNull();
    });

    it('writes every change to the audit log with the actor', async () => {
      const res = await call({ method: 'POST', path: '/sites', role: 'operator', body: { code: `S-${uniqueNo()}`, name: 'Estate' } });

      const entry = await testDb.db.selectFrom('audit_log').selectAll().where('target_id', '=', sql<string>`${String(res.body.id)}::text`).executeTakeFirstOrThrow();
      expect(entry).toMatchObject({ actor: 'user-operator', role: 'operator', action: 'site.create', target_type: 'site' });
    });

    it('answers 401 without a token and 403 for a role without the right', async () => {
      const anonymous = await call({ method: 'GET', path: '/meters', role: 'none' });
      const viewer = await call({ method: 'POST', path: '/sites', role: 'viewer', body: { code: 'x', name: 'y' } });

      expect(anonymous.status).toBe(401);
      expect(anonymous.headers['content-type']).toBe('application/problem+json');
      expect(viewer.status).toBe(403);
      expect(viewer.body.detail).toMatch(/admin, operator/);
    });

    it('answers bad requests with problem+json naming the field', async () => {
      const badType = await call({ method: 'POST', path: '/meters', body: { meterNo: uniqueNo(), meterType: 'gas' } });
      const missingEui = await call({ method: 'POST', path: '/devices', body: { deviceType: 'browan_tabs' } });
      const notJson = await call({ method: 'POST', path: '/sites', rawBody: '{"code":' });
      const wrongType = await call({ method: 'POST', path: '/sites', rawBody: 'code=x', contentType: 'application/x-www-form-urlencoded' });
      // A meter is named by its id or its meter number; a dot is in neither.
      const badId = await call({ method: 'GET', path: '/meters/not.a.meter' });
      const unknown = await call({ method: 'GET', path: '/meters/00000000-0000-4000-8000-000000000000' });
      const noRoute = await call({ method: 'GET', path: '/nope' });
      const extraField = await call({ method: 'POST', path: '/sites', body: { code: 'abc', name: 'x', colour: 'red' } });

      expect(badType).toMatchObject({ status: 400, body: { errors: [{ path: 'body.meterType' }] } });
      expect(missingEui).toMatchObject({ status: 400, body: { errors: [{ path: 'body.devEui' }] } });
      expect(notJson.status).toBe(400);
      expect(wrongType.status).toBe(415);
      expect(badId).toMatchObject({ status: 400, body: { errors: [{ path: 'path.id' }] } });
      expect(unknown.status).toBe(404);
      expect(noRoute.status).toBe(404);
      expect(extraField.status).toBe(400);
    });

    it('answers values the database cannot store with a 400, not a 500', async () => {
      const nulName = await call({ method: 'POST', path: '/sites', body: { code: `N-${uniqueNo()}`, name: 'a\u0000b' } });
      const nulConfig = await call({ method: 'POST', path: '/devices', body: { deviceType: 'browan_tabs', devEui: uniqueEui(), config: { note: 'x\u0000' } } });
      const meter = await call({ method: 'POST', path: '/meters', body: { meterNo: uniqueNo(), meterType: 'water' } });
      const yearZero = await call({ method: 'GET', path: `/meters/${String(meter.body.id)}/readings`, query: { from: '0000-06-01T00:00:00Z' } });
      const uuidReason = await call({ method: 'GET', path: '/quarantine', query: { reasonCode: '00000000-0000-4000-8000-000000000000' } });

      expect([nulName.status, nulConfig.status, yearZero.status, uuidReason.status]).toEqual([400, 400, 400, 400]);
    });

    it('accepts a meter id in upper case', async () => {
      const meter = await call({ method: 'POST', path: '/meters', body: { meterNo: uniqueNo(), meterType: 'water' } });

      const res = await call({ method: 'GET', path: `/meters/${String(meter.body.id).toUpperCase()}` });

      expect(res).toMatchObject({ status: 200, body: { id: meter.body.id } });
    });

    it('answers 409 for a duplicate meter number or DevEUI', async () => {
      const meterNo = uniqueNo();
      const devEui = uniqueEui();
      await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } } });

      const again = await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'electricity' } });
      const sameEui = await call({ method: 'POST', path: '/devices', body: { deviceType: 'milesight_uc100', devEui } });

      expect(again.status).toBe(409);
      expect(sameEui.status).toBe(409);
    });

    it('never answers 500 to arbitrary JSON bodies', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('/meters', '/devices', '/sites'), fc.jsonValue(), async (path, body) => {
          const res = await call({ method: 'POST', path, body });
          expect(res.status).toBeGreaterThanOrEqual(200);
          expect(res.status).toBeLessThan(500);
        }),
        { numRuns: 60 },
      );
    });

    it('reports health of the database and the broker', async () => {
      const res = await call({ method: 'GET', path: '/health', role: 'none' });

      expect(res).toMatchObject({ status: 200, body: { status: 'ok', checks: { database: 'ok', broker: 'ok' } } });
    });
});
