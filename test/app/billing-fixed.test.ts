// Fixed charges on a real database (PGlite, or PostgreSQL with DATABASE_URL): one entry per account per
// local day, keyed fixed:{accountId}:{date}; every scenario ends with the ledger's invariants holding.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { logger } from '#shared/logger';
import { runBilling } from '#app/billing/billing';
import { fixedChargeDetails } from '#store/billing';
import { invariantViolations, post, statement } from '#store/ledger';
import { openTestDb, type TestDb } from '../support/db.ts';

const TZ = 'Africa/Nairobi'; // UTC+3, no DST: local midnight is 21:00Z the day before

describe('fixed charges (one entry per account per local day)', () => {
  let testDb: TestDb;
  let site: string;
  const deps = () => ({ db: testDb.db, logger });

  beforeAll(async () => {
    logger.setLogLevel('SILENT');
    testDb = await openTestDb();
    site = (await sql<{ id: string }>`INSERT INTO sites (code, name, timezone) VALUES ('FX', 'Fixed estate', ${TZ}) RETURNING id`.execute(testDb.db)).rows[0]!.id;
  });
  afterAll(async () => {
    await testDb.close();
  });
  afterEach(async () => {
    expect(await invariantViolations(testDb.db)).toEqual([]);
  });

  async function tariff(components: unknown[], from = '2026-01-01T00:00:00Z'): Promise<string> {
    const t = await testDb.db.insertInto('tariffs').values({ name: `F${randomUUID().slice(0, 6)}`, meter_type: 'electricity', currency: 'KES' }).returning('id').executeTakeFirstOrThrow();
    await sql`INSERT INTO tariff_versions (tariff_id, version, effective_from, components)
              VALUES (CAST(${t.id} AS uuid), 1, CAST(${from} AS timestamptz), CAST(${JSON.stringify(components)} AS jsonb))`.execute(testDb.db);
    return t.id;
  }

  const standing = (amountMinor: string, per: 'day' | 'month' = 'day') => [
    { id: 'energy', kind: 'flat', rateMinor: '2000' },
    { id: 'standing', kind: 'fixed', name: 'Standing charge', per, amountMinor },
    { id: 'vat', kind: 'percent_tax', name: 'VAT', percent: '16', appliesTo: ['energy', 'standing'] },
  ];

  async function account(balanceMinor = 1_000_000): Promise<string> {
    const customer = await testDb.db.insertInto('customers').values({ name: 'C' }).returning('id').executeTakeFirstOrThrow();
    const acc = await testDb.db.insertInto('accounts').values({ customer_id: customer.id, account_no: `F${randomUUID().slice(0, 8)}` }).returning('id').executeTakeFirstOrThrow();
    await post(testDb.db, { accountId: acc.id, entryType: 'adjustment', amountMinor: balanceMinor, idempotencyKey: `open:${acc.id}`, reason: 'opening balance' });
    return acc.id;
  }

  async function meter(accountId: string, tariffId: string, joined: string): Promise<string> {
    const m = await testDb.db
      .insertInto('meters')
      .values({ meter_no: `FM${randomUUID().slice(0, 8)}`, meter_type: 'electricity', unit: 'kWh', account_id: accountId, tariff_id: tariffId, site_id: site })
      .returning('id')
      .executeTakeFirstOrThrow();
    await testDb.db.insertInto('account_meters').values({ account_id: accountId, meter_id: m.id, valid_from: new Date(joined) }).execute();
    return m.id;
  }

  async function fixedEntries(accountId: string) {
    const rows = await testDb.db
      .selectFrom('ledger_entries')
      .select(['amount_minor', 'idempotency_key', 'description', 'source_ref'])
      .where('account_id', '=', accountId)
      .where('idempotency_key', 'like', 'fixed:%')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ amount: Number(r.amount_minor), key: r.idempotency_key, description: r.description, sourceRef: r.source_ref }));
  }

  const balance = async (accountId: string) => Number((await testDb.db.selectFrom('accounts').select('balance_minor').where('id', '=', accountId).executeTakeFirstOrThrow()).balance_minor);

  it('charges each meter on the account at the start of a local day, one entry a day with VAT, once', async () => {
    const t = await tariff(standing('1000'));
    const a = await account();
    await meter(a, t, '2026-03-01T21:00:00Z'); // local midnight 2026-03-02: charged from 03-02
    const late = await meter(a, t, '2026-03-02T09:00:00Z'); // mid-day 03-02 (12:00 local): charged from 03-03
    const now = new Date('2026-03-03T05:00:00Z'); // 08:00 local on 03-03

    const first = await runBilling(deps(), { trigger: 'schedule', now });
    expect(first.run.status).toBe('completed');
    expect(first.run.fixedEntriesPosted).toBe(2);
    expect(first.run.fixedAmountMinor).toBe(1160 + 2320);
    const entries = await fixedEntries(a);
    expect(entries.map((e) => [e.key, e.amount])).toEqual([
      [`fixed:${a}:2026-03-02`, -1160],
      [`fixed:${a}:2026-03-03`, -2320],
    ]);
    expect(entries[1]!.description).toBe('Fixed charges 2026-03-03 (Standing charge, VAT), 2 meters');
    expect(first.balances).toContainEqual({ accountId: a, balanceAfterMinor: 1_000_000 - 3480 });

    // The detail names each meter's share and the lines.
    const [latest] = await fixedChargeDetails(testDb.db, a);
    const detail = latest!.detail as { meters: { meterId: string; amountMinor: string }[]; lines: { componentId: string; quantity: string; amountMinor: string }[] };
    expect(latest!.localDate).toBe('2026-03-03');
    expect(detail.meters).toHaveLength(2);
    expect(detail.meters.find((m) => m.meterId === late)?.amountMinor).toBe('1160');
    expect(detail.lines.map((l) => [l.componentId, l.quantity, l.amountMinor])).toEqual([
      ['standing', '2', '2000'],
      ['vat', '2000', '320'],
    ]);

    // Again, and twice at once: nothing more.
    const again = await Promise.all([runBilling(deps(), { trigger: 'schedule', now }), runBilling(deps(), { trigger: 'manual', now })]);
    expect(again.map((r) => r.run.fixedEntriesPosted)).toEqual([0, 0]);
    expect(await fixedEntries(a)).toHaveLength(2);
    expect(await balance(a)).toBe(1_000_000 - 3480);

    // The statement shows each day as its own line.
    const st = await statement(testDb.db, a, { limit: 100 });
    expect(st.entries.filter((e) => e.source_ref?.startsWith('billing-fixed:')).map((e) => e.description)).toEqual([
      'Fixed charges 2026-03-02 (Standing charge, VAT), 1 meter',
      'Fixed charges 2026-03-03 (Standing charge, VAT), 2 meters',
    ]);
  });

  it('catches up the days missed while the job did not run, and a day is charged from its start', async () => {
    const t = await tariff(standing('500'));
    const a = await account();
    await meter(a, t, '2026-04-30T21:00:00Z'); // from local 2026-05-01
    await runBilling(deps(), { trigger: 'schedule', now: new Date('2026-05-01T00:10:00Z') });
    expect((await fixedEntries(a)).map((e) => e.key)).toEqual([`fixed:${a}:2026-05-01`]);
    // 20:59Z on 05-04 is 23:59 local: still 05-04; three days caught up.
    const caught = await runBilling(deps(), { trigger: 'schedule', now: new Date('2026-05-04T20:59:00Z') });
    expect(caught.run.fixedEntriesPosted).toBeGreaterThanOrEqual(3);
    expect((await fixedEntries(a)).map((e) => e.key.slice(-10))).toEqual(['2026-05-01', '2026-05-02', '2026-05-03', '2026-05-04']);
    // 21:00Z is local midnight: 05-05 is due.
    await runBilling(deps(), { trigger: 'schedule', now: new Date('2026-05-04T21:00:00Z') });
    expect((await fixedEntries(a)).map((e) => e.key.slice(-10)).at(-1)).toBe('2026-05-05');
    expect((await fixedEntries(a)).every((e) => e.amount === -580)).toBe(true);
  });

  it('a per-month charge is shared among the days and rounding carries: a whole month adds up exactly', async () => {
    // 1000 a month over June's 30 days: 33.333… a day (no tax); the entries add up to 1000.
    const t = await tariff([{ id: 'standing', kind: 'fixed', per: 'month', amountMinor: '1000' }]);
    const a = await account();
    await meter(a, t, '2026-05-31T21:00:00Z'); // local 2026-06-01
    for (const day of ['2026-06-10', '2026-06-20', '2026-06-30']) {
      await runBilling(deps(), { trigger: 'schedule', now: new Date(`${day}T12:00:00Z`) });
    }
    const entries = await fixedEntries(a);
    expect(entries).toHaveLength(30);
    expect(entries.reduce((s, e) => s + e.amount, 0)).toBe(-1000);
    expect(new Set(entries.map((e) => e.amount))).toEqual(new Set([-33, -34]));
  });

  it('a tariff without fixed components, or a meter that left, charges nothing for those days', async () => {
    const flat = await tariff([{ id: 'energy', kind: 'flat', rateMinor: '2000' }]);
    const withFixed = await tariff(standing('1000'));
    const a = await account();
    await meter(a, flat, '2026-07-01T21:00:00Z');
    const b = await account();
    const m = await meter(b, withFixed, '2026-07-01T21:00:00Z'); // from local 07-02
    // Left at 10:00 local on 07-03: pays 07-03 (on at its start), not 07-04.
    await testDb.db.updateTable('account_meters').set({ valid_to: new Date('2026-07-03T07:00:00Z') }).where('meter_id', '=', m).execute();
    await runBilling(deps(), { trigger: 'schedule', now: new Date('2026-07-05T06:00:00Z') });
    expect(await fixedEntries(a)).toEqual([]);
    expect((await fixedEntries(b)).map((e) => e.key.slice(-10))).toEqual(['2026-07-02', '2026-07-03']);
  });
});
