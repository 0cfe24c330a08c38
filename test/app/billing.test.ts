// The billing job on a real database (PGlite, or PostgreSQL with DATABASE_URL): each scenario runs the job
// and then checks the ledger's invariants (ledger_invariant_violations() is empty).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { logger } from '#shared/logger';
import { runBilling } from '#app/billing/billing';
import { invariantViolations, post } from '#store/ledger';
import { openTestDb, type TestDb } from '../support/db.ts';

describe('billing job', () => {
  let testDb: TestDb;
  const deps = () => ({ db: testDb.db, logger });
  let readingSeq = 0;

  beforeAll(async () => {
    logger.setLogLevel('SILENT');
    testDb = await openTestDb();
  });
  afterAll(async () => {
    await testDb.close();
  });
  afterEach(async () => {
    expect(await invariantViolations(testDb.db)).toEqual([]);
  });

  async function tariff(versions: { from: string; rateMinor: string }[]): Promise<string> {
    const t = await testDb.db.insertInto('tariffs').values({ name: `T${randomUUID().slice(0, 6)}`, meter_type: 'electricity', currency: 'KES' }).returning('id').executeTakeFirstOrThrow();
    let n = 1;
    for (const v of versions) {
      await sql`INSERT INTO tariff_versions (tariff_id, version, effective_from, components)
                VALUES (CAST(${t.id} AS uuid), ${n++}, CAST(${v.from} AS timestamptz),
                        CAST(${JSON.stringify([{ id: 'energy', kind: 'flat', rateMinor: v.rateMinor }])} AS jsonb))`.execute(testDb.db);
    }
    return t.id;
  }

  async function account(balanceMinor = 100_000): Promise<string> {
    const customer = await testDb.db.insertInto('customers').values({ name: 'C' }).returning('id').executeTakeFirstOrThrow();
    const acc = await testDb.db.insertInto('accounts').values({ customer_id: customer.id, account_no: `A${randomUUID().slice(0, 8)}` }).returning('id').executeTakeFirstOrThrow();
    await post(testDb.db, { accountId: acc.id, entryType: 'adjustment', amountMinor: balanceMinor, idempotencyKey: `open:${acc.id}`, reason: 'opening balance' });
    return acc.id;
  }

  async function meter(accountId: string | null, tariffId: string): Promise<string> {
    const m = await testDb.db
      .insertInto('meters')
      .values({ meter_no: `M${randomUUID().slice(0, 8)}`, meter_type: 'electricity', unit: 'kWh', account_id: accountId, tariff_id: tariffId })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (accountId) await testDb.db.insertInto('account_meters').values({ account_id: accountId, meter_id: m.id, valid_from: new Date('2026-01-01T00:00:00Z') }).execute();
    return m.id;
  }

  async function reading(meterId: string, at: string, value: string): Promise<void> {
    await testDb.db.insertInto('meter_readings').values({ meter_id: meterId, source_key: `test:${++readingSeq}:${randomUUID()}`, reading_value: value, reading_date: new Date(at) }).execute();
  }

  async function consumption(accountId: string): Promise<number[]> {
    const rows = await testDb.db.selectFrom('ledger_entries').select('amount_minor').where('account_id', '=', accountId).where('entry_type', '=', 'consumption').orderBy('id').execute();
    return rows.map((r) => Number(r.amount_minor));
  }

  it('bills a meter from its first reading to its latest once; a second run adds nothing', async () => {
    const t = await tariff([{ from: '2026-01-01T00:00:00Z', rateMinor: '2000' }]);
    const a = await account();
    const m = await meter(a, t);
    await reading(m, '2026-03-01T00:00:00Z', '100');
    await reading(m, '2026-03-01T01:00:00Z', '104.5');
    await reading(m, '2026-03-01T02:00:00Z', '110');

    const first = await runBilling(deps(), { trigger: 'manual' });
    expect(first.run.status).toBe('completed');
    expect(await consumption(a)).toEqual([-20_000]);
    expect(first.balances).toContainEqual({ accountId: a, balanceAfterMinor: 80_000 });

    const second = await runBilling(deps(), { trigger: 'schedule' });
    expect(await consumption(a)).toEqual([-20_000]);
    expect(second.balances.find((b) => b.accountId === a)).toBeUndefined();

    await reading(m, '2026-03-01T03:00:00Z', '111');
    await runBilling(deps(), { trigger: 'schedule' });
    expect(await consumption(a)).toEqual([-20_000, -2_000]);
  });

  it('two runs at once post each meter once', async () => {
    const t = await tariff([{ from: '2026-01-01T00:00:00Z', rateMinor: '1000' }]);
    const a = await account();
    const meters = [await meter(a, t), await meter(a, t), await meter(a, t)];
    for (const m of meters) {
      await reading(m, '2026-03-02T00:00:00Z', '0');
      await reading(m, '2026-03-02T06:00:00Z', '3');
    }
    const runs = await Promise.all([runBilling(deps(), { trigger: 'schedule', chunkSize: 2 }), runBilling(deps(), { trigger: 'manual', chunkSize: 1 })]);
    expect(runs.map((r) => r.run.status)).toEqual(['completed', 'completed']);
    expect(await consumption(a)).toEqual([-3000, -3000, -3000]);
  });

  it('a late reading older than the last billed one is not billed again; the next new one is billed from where billing stopped', async () => {
    const t = await tariff([{ from: '2026-01-01T00:00:00Z', rateMinor: '1000' }]);
    const a = await account();
    const m = await meter(a, t);
    await reading(m, '2026-03-03T00:00:00Z', '10');
    await reading(m, '2026-03-03T02:00:00Z', '12');
    await runBilling(deps(), { trigger: 'schedule' });
    await reading(m, '2026-03-03T01:00:00Z', '11');
    await runBilling(deps(), { trigger: 'schedule' });
    expect(await consumption(a)).toEqual([-2000]);
    await reading(m, '2026-03-03T03:00:00Z', '15');
    await runBilling(deps(), { trigger: 'schedule' });
    expect(await consumption(a)).toEqual([-2000, -3000]);
  });

  it('a total that goes down is reported, never billed negative; billing resumes when it passes the billed value', async () => {
    const t = await tariff([{ from: '2026-01-01T00:00:00Z', rateMinor: '1000' }]);
    const a = await account();
    const m = await meter(a, t);
    await reading(m, '2026-03-04T00:00:00Z', '50');
    await reading(m, '2026-03-04T01:00:00Z', '52');
    await runBilling(deps(), { trigger: 'schedule' });
    // A counter reset that ingest did not offset (e.g. a manual reading keyed in from the display).
    await reading(m, '2026-03-04T02:00:00Z', '1');
    const run = await runBilling(deps(), { trigger: 'schedule' });
    expect(run.run.skipped['negative_consumption']?.meters).toContain(m);
    expect(await consumption(a)).toEqual([-2000]);
    // Ingest's offsets keep the cumulative value going up from where it was: billed from 52.
    await reading(m, '2026-03-04T03:00:00Z', '55');
    await runBilling(deps(), { trigger: 'schedule' });
    expect(await consumption(a)).toEqual([-2000, -3000]);
  });

  it('a tariff version starting mid-interval prices each part of the interval by its own version', async () => {
    const t = await tariff([
      { from: '2026-01-01T00:00:00Z', rateMinor: '1000' },
      { from: '2026-03-05T01:00:00Z', rateMinor: '3000' },
    ]);
    const a = await account();
    const m = await meter(a, t);
    await reading(m, '2026-03-05T00:00:00Z', '0');
    await reading(m, '2026-03-05T02:00:00Z', '10');
    await runBilling(deps(), { trigger: 'schedule' });
    expect(await consumption(a)).toEqual([-(5 * 1000 + 5 * 3000)]);
  });

  it('carries the rounding remainder to the next entry, so rounding neither makes nor loses money', async () => {
    const t = await tariff([{ from: '2026-01-01T00:00:00Z', rateMinor: '0.3' }]);
    const a = await account();
    const m = await meter(a, t);
    await reading(m, '2026-03-06T00:00:00Z', '0');
    for (let i = 1; i <= 5; i++) {
      await reading(m, `2026-03-06T0${i}:00:00Z`, String(i));
      await runBilling(deps(), { trigger: 'schedule' });
    }
    const entries = await consumption(a);
    // 5 × 0.3 = 1.5 minor units in all: 0.3, 0.6 → 1, then carry -0.4 … rounds to whole units summing to 1 or 2 with the carry left.
    const state = await sql<{ carry: string }>`SELECT CAST(carry_minor AS text) AS carry FROM billing_state WHERE meter_id = CAST(${m} AS uuid)`.execute(testDb.db);
    expect(-entries.reduce((s, e) => s + e, 0) + Number(state.rows[0]!.carry)).toBeCloseTo(1.5, 10);
  });

  it('a credit arriving during a billing run lands once, and the balance is the sum of both', async () => {
    const t = await tariff([{ from: '2026-01-01T00:00:00Z', rateMinor: '1000' }]);
    const a = await account(1_000);
    const meters = [await meter(a, t), await meter(a, t)];
    for (const m of meters) {
      await reading(m, '2026-03-08T00:00:00Z', '0');
      await reading(m, '2026-03-08T01:00:00Z', '2');
    }
    await Promise.all([
      runBilling(deps(), { trigger: 'schedule', chunkSize: 1 }),
      post(testDb.db, { accountId: a, entryType: 'adjustment', amountMinor: 7_000, idempotencyKey: `credit:${a}`, reason: 'counter payment' }),
    ]);
    const acc = await testDb.db.selectFrom('accounts').select('balance_minor').where('id', '=', a).executeTakeFirstOrThrow();
    expect(Number(acc.balance_minor)).toBe(1_000 + 7_000 - 4_000);
  });

  it('reports a meter without an account and bills nothing for it', async () => {
    const t = await tariff([{ from: '2026-01-01T00:00:00Z', rateMinor: '1000' }]);
    const m = await meter(null, t);
    await reading(m, '2026-03-07T00:00:00Z', '0');
    await reading(m, '2026-03-07T01:00:00Z', '5');
    const run = await runBilling(deps(), { trigger: 'schedule' });
    expect(run.run.skipped['no_account']?.meters).toContain(m);
    const state = await testDb.db.selectFrom('billing_runs').select('id').where('id', '=', run.run.id).executeTakeFirst();
    expect(state).toBeDefined();
  });
});
