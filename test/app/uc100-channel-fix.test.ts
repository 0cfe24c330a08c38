// The first story: a UC100 registered without its channel map sends channel frames nobody can
// read as a reading; its map is set by PATCH /devices/{id} and its next uplink becomes the meter's reading.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';
import { randomEui, upMessage } from '../support/chirpstack.ts';

// Channels 1-4 as Float ABCD (test/domain/decoders/uc100.test.ts): 235.35 V, 110.20 A, 50.012 Hz, 1234.5 kWh.
const eastronFrame = 'ff19000407b45a6b43' + 'ff190104072067dc42' + 'ff19020407630c4842' + 'ff1903040700509a44';

let testDb: TestDb;
let deps: IngestDeps;
let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;

beforeAll(async () => {
  testDb = await openTestDb();
  logger.setLogLevel('SILENT');
  deps = { db: testDb.db, logger, now: () => new Date(), commandExpiryHours: 48 };
  const handler = createApiHandler({ db: testDb.db, logger, now: () => new Date(), healthChecks: {}, ingest: (m) => ingestBatch(deps, m), commandQueue: { enqueue: async () => undefined } });
  call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
});
afterAll(async () => {
  await testDb.close();
});

it("fixes a UC100's channel map by PATCH and its next uplink produces the reading", async () => {
  const devEui = randomEui();
  const meterNo = `U${devEui.slice(0, 10)}`;
  const created = await call({ method: 'POST', path: '/meters', body: { meterNo, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } } });
  const deviceId = (created.body.device as { id: string }).id;

  const before = await ingestBatch(deps, [upMessage({ devEui, fPort: 85, hex: eastronFrame, fCnt: 1, time: new Date('2026-11-01T10:00:00Z') })]);
  const patched = await call({ method: 'PATCH', path: `/devices/${deviceId}`, body: { config: { channels: { '1': 'voltageV', '2': 'currentA', '3': 'frequencyHz', '4': 'energyImportKwh' } } } });
  const after = await ingestBatch(deps, [upMessage({ devEui, fPort: 85, hex: eastronFrame, fCnt: 2, time: new Date('2026-11-01T10:15:00Z') })]);

  expect(before.readings).toBe(0);
  expect(patched.status).toBe(200);
  expect(after.readings).toBe(1);
  const meter = await call({ method: 'GET', path: `/meters/${meterNo}` });
  expect(meter.body).toMatchObject({ lastReading: 1234.5 });
  const readings = await call({ method: 'GET', path: `/meters/${String(created.body.id)}/readings` });
  expect(readings.body.items).toMatchObject([{ readingValue: 1234.5, voltage: 235.354, energyImport: 1234.5 }]);
  const events = await call({ method: 'GET', path: `/devices/${deviceId}/events`, query: { type: 'up' } });
  expect(events.body).toMatchObject({ total: 1 });
});
