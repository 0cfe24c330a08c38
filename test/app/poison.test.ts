// Poison in, reason out: text PostgreSQL cannot store (NUL, lone UTF-16 surrogates) and JSON nested
// thousands deep, wherever it comes in (MQTT topics, ChirpStack and ESP32 fields, HTTP bodies), ends as a
// stored or quarantined message, an audited refusal or a 400: never a message retried for ever, an
// unaudited refusal or a 500. On PostgreSQL when DATABASE_URL is set, PGlite otherwise.
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import { createMeter } from '#app/registry/registry';
import { isStorableText, maxJsonDepth, replacementCharacter, storable, storableText } from '#domain/text';
import { logger } from '#shared/logger';
import { json } from '#store/db';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';
import { inbound, randomEui, upEvent, upTopic } from '../support/chirpstack.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { openTestDb, type TestDb } from '../support/db.ts';

let testDb: TestDb;
let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;
const actor = { principal: { subject: 'test', roles: ['admin' as const] } };

beforeAll(async () => {
  testDb = await openTestDb();
  logger.setLogLevel('SILENT');
  const handler = createApiHandler({
    db: testDb.db,
    logger,
    now: () => new Date(),
    healthChecks: {},
    ingest: async () => {
      throw new Error('not used');
    },
    commandQueue: { enqueue: async () => undefined },
    commandExpiryHours: 2,
  });
  call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
});
afterAll(async () => {
  await testDb.close();
});

const unique = () => randomBytes(5).toString('hex');
/** `{"a":{"a":...1}}`, `depth` objects deep, as JSON text (JSON.stringify itself overflows at 5,000). */
const nestedJson = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
/** A JSON body with `"$nested"` replaced by nestedJson(depth). */
const withNested = (body: Record<string, unknown>, depth: number): string => JSON.stringify(body).replace('"$nested"', nestedJson(depth));

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('ingestion of messages with text PostgreSQL cannot store, via the $path', ({ open }) => {
  let ingestDb: Pick<TestDb, 'db' | 'close'>;
  let deps: IngestDeps;
  beforeAll(async () => {
    ingestDb = await open();
    deps = { db: ingestDb.db, logger, now: () => new Date(), commandExpiryHours: 48 };
  });
  afterAll(async () => {
    await ingestDb.close();
  });

  async function em300Meter() {
    const devEui = randomEui();
    const { device } = await createMeter(ingestDb.db, { meterNo: `P${devEui.slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_em300_di', devEui, lifecycle: 'active', config: { pulsesPerUnit: 1000 } } }, actor, new Date());
    return { devEui, device: device! };
  }

  async function esp32Meter() {
    const meterNo = `PSN${unique()}`;
    const { device } = await createMeter(ingestDb.db, { meterNo, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'esp32_meter', meterNo, lifecycle: 'active' } }, actor, new Date());
    return { meterNo, device: device! };
  }

  it('quarantines a message whose topic holds a NUL once, sanitised, and redelivers nothing', async () => {
    const marker = unique();
    const topic = `poison/${marker}/\u0000/up`;
    const message = inbound(topic, { hello: 'world' });

    const first = await ingestBatch(deps, [message]);
    const again = await ingestBatch(deps, [{ ...message, id: 'again' }]);

    expect(first).toMatchObject({ retry: [], quarantined: 1 });
    expect(again.retry).toEqual([]);
    const rows = await ingestDb.db.selectFrom('quarantine').selectAll().where('topic', 'like', `poison/${marker}/%`).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ topic: `poison/${marker}/${replacementCharacter}/up`, reason_code: 'unknown_topic', payload: '{"hello":"world"}' });
    expect(rows[0]?.reason).toContain(`topic as sent: poison/${marker}/\\u0000/up`);
  });

  it('quarantines a message whose topic holds a lone surrogate once', async () => {
    const marker = unique();

    const result = await ingestBatch(deps, [inbound(`poison/${marker}/\ud800`, '{}')]);

    expect(result.retry).toEqual([]);
    const rows = await ingestDb.db.selectFrom('quarantine').selectAll().where('topic', 'like', `poison/${marker}/%`).execute();
    expect(rows.map((r) => r.topic)).toEqual([`poison/${marker}/${replacementCharacter}`]);
    expect(rows[0]?.reason).toMatch(/sanitised/);
  });

  it('quarantines an ESP32 message whose topic meter number holds a NUL, with the payload exact', async () => {
    const meterNo = `PSN${unique()}`;
    const body = JSON.stringify({ meterNo: `${meterNo}\u0000`, unitsConsumed: 1, timestamp: 1_790_000_000_000 });

    const result = await ingestBatch(deps, [inbound(`smartmeter/${meterNo}\u0000/consumption`, body)]);

    expect(result.retry).toEqual([]);
    const rows = await ingestDb.db.selectFrom('quarantine').selectAll().where('topic', 'like', `smartmeter/${meterNo}%`).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.payload).toBe(body);
  });

  it('stores or quarantines, once each, ChirpStack events and ESP32 reports with NUL and lone surrogates in their fields', async () => {
    const { devEui, device } = await em300Meter();
    const esp32 = await esp32Meter();
    const base = { deviceInfo: { applicationId: 'a', devEui }, time: '2026-11-05T00:00:00Z' };
    const messages = [
      inbound(upTopic(devEui, 'log'), { ...base, level: 'ERROR', code: 'UPLINK_CODEC', description: 'codec \u0000 failed' }),
      inbound(upTopic(devEui, 'log'), { ...base, level: 'ERROR', code: 'UPLINK_CODEC', description: 'codec \ud800 failed', context: { 'k\u0000': 'v' } }),
      inbound(upTopic(devEui, 'join'), { ...base, deduplicationId: randomUUID(), devAddr: '0102\u00000304' }),
      inbound(upTopic(devEui), { ...upEvent({ devEui, fPort: 85, hex: '01755c05c800010000', fCnt: 1 }), deviceInfo: { ...base.deviceInfo, deviceName: 'x\u0000', tags: { t: '\udc00' } } }),
      inbound(`smartmeter/${esp32.meterNo}/status`, { meterNo: esp32.meterNo, status: 'ok', message: 'relay \u0000 stuck', timestamp: 1_790_000_000_000 }),
      inbound(`smartmeter/${esp32.meterNo}/status`, { meterNo: esp32.meterNo, status: 'ok\ud800', timestamp: 1_790_000_060_000 }),
    ];

    const first = await ingestBatch(deps, messages);
    const again = await ingestBatch(deps, messages);

    expect(first.retry).toEqual([]);
    expect(again.retry).toEqual([]);
    expect(first.dropped ?? 0).toBe(0);
    expect([...first.outcomes.keys()].sort()).toEqual(messages.map((m) => m.id).sort());
    const quarantined = await ingestDb.db.selectFrom('quarantine').select(['dev_eui', 'meter_no', 'attempts']).where((eb) => eb.or([eb('dev_eui', '=', devEui), eb('meter_no', '=', esp32.meterNo)])).execute();
    const events = await ingestDb.db.selectFrom('device_events').select('event_type').where('device_id', 'in', [device.id, esp32.device.id]).execute();
    const readings = await ingestDb.db.selectFrom('meter_readings').select('id').where('device_id', '=', device.id).execute();
    expect(quarantined.length + events.length + readings.length).toBe(messages.length);
  });

  it('quarantines a ChirpStack uplink whose JSON nests 5,000 deep, naming the limit', async () => {
    const { devEui } = await em300Meter();

    const result = await ingestBatch(deps, [inbound(upTopic(devEui), withNested({ ...upEvent({ devEui, fPort: 85, hex: '01755c', fCnt: 2 }), object: '$nested' }, 5000))]);

    expect(result).toMatchObject({ retry: [], quarantined: 1 });
    const row = await ingestDb.db.selectFrom('quarantine').selectAll().where('dev_eui', '=', devEui).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ reason_code: 'json_too_deep', reason: `payload JSON nests deeper than ${maxJsonDepth} levels` });
  });

  it('quarantines an ESP32 report nested deeper than the limit', async () => {
    const { meterNo } = await esp32Meter();

    const result = await ingestBatch(deps, [inbound(`smartmeter/${meterNo}/status`, withNested({ meterNo, status: 'ok', timestamp: 1_790_000_000_000, extra: '$nested' }, maxJsonDepth))]);

    expect(result.retry).toEqual([]);
    const row = await ingestDb.db.selectFrom('quarantine').selectAll().where('meter_no', '=', meterNo).executeTakeFirstOrThrow();
    expect(row.reason_code).toBe('json_too_deep');
  });

  it('drops, logged and counted, a message the database refuses even as a quarantine row, and retries nothing', async () => {
    // A database that refuses every quarantine write as a data exception (what a sanitised row should
    // never meet): the message cannot be kept, and must not be redelivered for ever.
    const refuseQuarantine: KyselyPlugin = {
      transformQuery: ({ node }) => {
        if (/INSERT INTO quarantine/.test(rawText(node))) throw Object.assign(new Error('refused'), { code: '22P05' });
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    const refusing = { ...deps, db: ingestDb.db.withPlugin(refuseQuarantine) };
    const message = inbound(`poison/${unique()}`, '{}');

    const result = await ingestBatch(refusing, [message, inbound(`poison/${unique()}`, '{}')]);

    expect(result).toMatchObject({ retry: [], dropped: 2, quarantined: 0 });
    expect(result.outcomes.get(message.id)).toBe('dropped');
  });
});

/** The SQL text of a raw query node (the ingest writes are raw `sql` statements). */
function rawText(node: RootOperationNode): string {
  const fragments = (node as { sqlFragments?: readonly string[] }).sqlFragments;
  return fragments ? fragments.join(' ') : '';
}

describe('refused relay requests with text PostgreSQL cannot store', () => {
  it.each([
    { what: 'a NUL', reason: 'cut \u0000 off' },
    { what: 'a lone surrogate', reason: 'cut \ud800 off' },
  ])('refuses and audits, sanitised, a relay request whose reason holds $what', async ({ reason }) => {
    const meterId = randomUUID();

    const res = await call({ method: 'POST', path: `/meters/${meterId}/relay`, role: 'operator', body: { action: 'off', reason } });

    expect(res.status).toBe(404);
    const row = await testDb.db.selectFrom('audit_log').selectAll().where('action', '=', 'meter.relay.rejected').where('target_id', '=', meterId).executeTakeFirstOrThrow();
    expect(row.details).toMatchObject({ reason: storableText(reason), sanitised: true, status: 404 });
  });

  it('refuses and audits a relay request for a meter that can switch when its reason holds a NUL', async () => {
    const eui = randomEui();
    const created = await call({ method: 'POST', path: '/meters', body: { meterNo: `R${eui.slice(0, 10)}`, meterType: 'electricity', device: { devEui: eui, deviceType: 'milesight_uc100' } } });
    const meterId = String(created.body.id);

    const res = await call({ method: 'POST', path: `/meters/${meterId}/relay`, role: 'operator', body: { action: 'off', reason: 'a\u0000b' } });

    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const rows = await testDb.db.selectFrom('audit_log').selectAll().where('target_id', '=', meterId).where('action', 'like', 'meter.relay%').execute();
    expect(rows.map((r) => r.action)).toEqual(['meter.relay.rejected']);
    expect(rows[0]?.details).toMatchObject({ reason: `a${replacementCharacter}b`, sanitised: true });
  });
});

describe('audits of changes carrying text PostgreSQL cannot store', () => {
  it('discards a quarantined message whose discard reason holds a NUL, and audits it sanitised', async () => {
    const topic = `poison/${unique()}`;
    await ingestBatch({ db: testDb.db, logger, now: () => new Date(), commandExpiryHours: 48 }, [inbound(topic, '{}')]);
    const item = await testDb.db.selectFrom('quarantine').select('id').where('topic', '=', topic).executeTakeFirstOrThrow();

    const res = await call({ method: 'POST', path: `/quarantine/${item.id}/discard`, role: 'operator', body: { reason: 'junk \u0000 from a test' } });

    expect(res.status).toBe(200);
    const row = await testDb.db.selectFrom('audit_log').selectAll().where('action', '=', 'quarantine.discard').where('target_id', '=', item.id).executeTakeFirstOrThrow();
    expect(row.details).toEqual({ reason: `junk ${replacementCharacter} from a test`, sanitised: true });
  });
});

describe('request bodies nested deeper than the limit', () => {
  it('answers a device config nested 5,000 deep with a 400 naming the limit', async () => {
    const res = await call({ method: 'POST', path: '/devices', rawBody: withNested({ deviceType: 'milesight_em300_di', devEui: randomEui(), config: '$nested' }, 5000) });

    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.body).toMatchObject({ status: 400, maxDepth: maxJsonDepth });
    expect(String(res.body.detail)).toContain(String(maxJsonDepth));
  });

  it('reads a body nested exactly to the limit', async () => {
    // The body object is level 1, its config level 2: the config's innermost object is level 64.
    const res = await call({ method: 'POST', path: '/devices', rawBody: withNested({ deviceType: 'milesight_em300_di', devEui: randomEui(), config: { pulsesPerUnit: 10, deep: '$nested' } }, maxJsonDepth - 2) });

    expect(res.status).toBe(201);
  });
});

describe('sanitised text', () => {
  const awkward = fc.string({ unit: fc.oneof(fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', 'a', '\\', '"'), fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))), maxLength: 40 });

  it('is storable in a text and a jsonb column, keys and nested values included, and reads back as sanitised', async () => {
    const table = `poison_probe_${unique()}`;
    await sql`CREATE TABLE ${sql.table(table)} (t text, j jsonb)`.execute(testDb.db);

    await fc.assert(
      fc.asyncProperty(awkward, awkward, async (text, key) => {
        const value = storable({ [key]: [text, { nested: text }] }).value;
        const clean = storableText(text);

        const row = (await sql<{ t: string; j: unknown }>`INSERT INTO ${sql.table(table)} (t, j) VALUES (${clean}, ${json(value)}) RETURNING t, j`.execute(testDb.db)).rows[0];

        expect(isStorableText(clean)).toBe(true);
        expect(row?.t).toBe(clean);
        expect(typeof row?.j === 'string' ? JSON.parse(row.j) : row?.j).toEqual(value);
      }),
      { numRuns: 60 },
    );
  });
});
