// Bulk registration from CSV: all or nothing, every problem reported by line; through the handler the
// Lambda runs, on the local driver and through the RDS Data API.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

const uniqueEui = () => Array.from({ length: 16 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
const uniqueNo = () => `I${Math.random().toString(36).slice(2, 10)}`;

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('POST /devices/import via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;
  const csv = (text: string, role: EventInput['role'] = 'operator') => call({ method: 'POST', path: '/devices/import', role, rawBody: text, contentType: 'text/csv' });
  const deviceCount = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM devices`.execute(testDb.db)).rows[0]?.n);

  beforeAll(async () => {
    testDb = await open();
    logger.setLogLevel('SILENT');
    const handler = createApiHandler({ db: testDb.db, logger, now: () => new Date(), healthChecks: {}, ingest: async () => { throw new Error('not used'); }, commandQueue: { enqueue: async () => undefined } });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterAll(async () => {
    await testDb.close();
  });

  it('registers every device of a valid file, config merged over the type defaults, a meter served', async () => {
    const meter = await call({ method: 'POST', path: '/meters', body: { meterNo: uniqueNo(), meterType: 'electricity' } });
    const [a, b] = [uniqueEui(), uniqueEui()];
    const esp = uniqueNo();

    const res = await csv(
      [
        'deviceType,devEui,meterNo,config,meterId,lifecycle',
        `milesight_em300_di,${a.toUpperCase()},,"{""pulsesPerUnit"":800}",${String(meter.body.id)},installed`,
        `kuando_busylight,${b},,,,`,
        `esp32_meter,,${esp},,,`,
      ].join('\n'),
    );

    expect(res.status).toBe(201);
    expect(res.body.imported).toBe(3);
    expect(res.body.items).toMatchObject([
      { devEui: a, config: { pulsesPerUnit: 800 }, lifecycle: 'installed' },
      { devEui: b, config: { fPort: 15 } },
      { meterNo: esp, kind: 'esp32' },
    ]);
    const served = await call({ method: 'GET', path: `/meters/${String(meter.body.id)}` });
    expect(served.body).toMatchObject({ device: { devEui: a } });
  });

  it('registers nothing when a line is wrong, and names every wrong line and column', async () => {
    const taken = uniqueEui();
    await call({ method: 'POST', path: '/devices', body: { deviceType: 'browan_tabs', devEui: taken } });
    const dup = uniqueEui();
    const before = await deviceCount();

    const res = await csv(
      [
        'deviceType,devEui,config',
        `browan_tabs,${uniqueEui()},`,
        `toaster,${uniqueEui()},`,
        `milesight_em300_di,${uniqueEui()},"{""pulsesPerUnit"":-1}"`,
        `browan_tabs,${dup},`,
        `browan_tabs,${dup},`,
        `browan_tabs,${taken},`,
        `browan_tabs,${uniqueEui()},{not json`,
        'browan_tabs,,',
      ].join('\n'),
    );

    expect(res.status).toBe(400);
    expect(res.body.detail).toBe('no device was registered: 6 of 8 lines have errors');
    const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['line.3.deviceType', 'line.4.config.pulsesPerUnit', 'line.6.devEui', 'line.7.devEui', 'line.8.config', 'line.9.devEui']));
    expect(paths).not.toContain('line.2.devEui');
    expect(await deviceCount()).toBe(before);
  });

  it('refuses unknown columns, an unreadable file, another media type and a viewer', async () => {
    const unknownColumn = await csv(`deviceType,devEUI\nbrowan_tabs,${uniqueEui()}`);
    const unclosed = await csv(`deviceType,devEui\n"browan_tabs,${uniqueEui()}`);
    const json = await call({ method: 'POST', path: '/devices/import', body: { deviceType: 'browan_tabs' } });
    const viewer = await csv(`deviceType,devEui\nbrowan_tabs,${uniqueEui()}`, 'viewer');
    const empty = await csv('deviceType,devEui\n');

    expect(unknownColumn).toMatchObject({ status: 400, body: { detail: 'unknown columns: devEUI' } });
    expect(unclosed.status).toBe(400);
    expect(json.status).toBe(415);
    expect(viewer.status).toBe(403);
    expect(empty.status).toBe(400);
  });
});
