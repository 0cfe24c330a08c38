// The billing routes through the API handler, on the database driver and the RDS Data API (the cloud path:
// billing_apply's JSON parameter and the chunk read go through ExecuteStatement).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApiHandler } from '#app/api/index';
import type { Db } from '#store/db';
import { logger } from '#shared/logger';
import { invariantViolations, post } from '#store/ledger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('billing API via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let db: Db;
  let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;

  beforeAll(async () => {
    testDb = await open();
    db = testDb.db;
    logger.setLogLevel('SILENT');
    const handler = createApiHandler({ db, logger, now: () => new Date(), healthChecks: {}, ingest: async () => { throw new Error('not used'); }, commandQueue: { enqueue: async () => undefined } });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterAll(async () => {
    await testDb.close();
  });

  it('runs billing now for an admin only and lists what each run billed and skipped', async () => {
    const tariff = await db.insertInto('tariffs').values({ name: 'Flat', meter_type: 'electricity', currency: 'KES' }).returning('id').executeTakeFirstOrThrow();
    await sql`INSERT INTO tariff_versions (tariff_id, version, effective_from, components)
              VALUES (CAST(${tariff.id} AS uuid), 1, '2026-01-01T00:00:00Z', CAST('[{"id":"energy","kind":"flat","rateMinor":"1500"}]' AS jsonb))`.execute(db);
    const customer = await db.insertInto('customers').values({ name: 'C' }).returning('id').executeTakeFirstOrThrow();
    const account = await db.insertInto('accounts').values({ customer_id: customer.id, account_no: `A${randomUUID().slice(0, 8)}` }).returning('id').executeTakeFirstOrThrow();
    await post(db, { accountId: account.id, entryType: 'adjustment', amountMinor: 50_000, idempotencyKey: `open:${account.id}`, reason: 'opening balance' });
    const meter = await db.insertInto('meters').values({ meter_no: `M${randomUUID().slice(0, 8)}`, meter_type: 'electricity', unit: 'kWh', account_id: account.id, tariff_id: tariff.id }).returning('id').executeTakeFirstOrThrow();
    const orphan = await db.insertInto('meters').values({ meter_no: `M${randomUUID().slice(0, 8)}`, meter_type: 'electricity', unit: 'kWh', tariff_id: tariff.id }).returning('id').executeTakeFirstOrThrow();
    for (const [m, at, v] of [[meter.id, '2026-02-01T00:00:00Z', '10'], [meter.id, '2026-02-01T05:00:00Z', '14'], [orphan.id, '2026-02-01T05:00:00Z', '3']] as const) {
      await sql`INSERT INTO meter_readings (meter_id, source_key, reading_value, reading_date)
                VALUES (CAST(${m} AS uuid), ${randomUUID()}, CAST(${v} AS numeric), CAST(${at} AS timestamptz))`.execute(db);
    }

    expect((await call({ method: 'POST', path: '/billing/runs', role: 'operator' })).status).toBe(403);
    const res = await call({ method: 'POST', path: '/billing/runs', role: 'admin' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'completed', trigger: 'manual', entriesPosted: 1, amountMinor: 6000, skipped: { no_account: { count: 1, meters: [orphan.id] } } });
    const again = await call({ method: 'POST', path: '/billing/runs', role: 'admin' });
    expect(again.body).toMatchObject({ status: 'completed', entriesPosted: 0 });

    const list = await call({ method: 'GET', path: '/billing/runs', role: 'viewer' });
    expect(list.status).toBe(200);
    expect((list.body as { items: { id: string }[] }).items.map((r) => r.id)).toEqual([(again.body as { id: string }).id, (res.body as { id: string }).id]);
    expect(await invariantViolations(db)).toEqual([]);
  });
});
