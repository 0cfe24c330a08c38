// The portal's own routes through the Lambda handler: the overview's money figures (accounts by alert
// state, suspense payments, today's revenue and consumption from midnight in the asked time zone), the
// audit log (admins only, filtered and paged), and the account's forecast and search. PGlite, or
// PostgreSQL when DATABASE_URL is set; the ledger invariants after every test.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { post } from '#store/ledger';
import { recordPayment } from '#store/payments';
import type { EventInput } from '../support/api.ts';
import { apiHandlerOverTestDb } from '../support/api-handler.ts';

const harness = apiHandlerOverTestDb();
const call = (input: EventInput) => harness.call(input);
const tag = () => randomUUID().slice(0, 8).toUpperCase();

async function newAccount(name: string) {
  const accountNo = `PA-${tag()}`;
  const customer = await call({ method: 'POST', path: '/customers', role: 'operator', body: { name, phone: '+254722000222' } });
  const account = await call({ method: 'POST', path: '/accounts', role: 'operator', body: { customerId: customer.body.id, accountNo } });
  expect(account.status).toBe(201);
  return account.body as { id: string; accountNo: string };
}

const pay = (reference: string, amountMinor: number) =>
  recordPayment(harness.db, { provider: 'mpesa', receipt: `T${tag()}${tag()}`.slice(0, 10), channel: 'c2b', amountMinor, currency: 'KES', phone: '+254722000222', reference, transactedAt: new Date(), raw: {} });

const consume = (accountId: string, amountMinor: number) =>
  post(harness.db, { accountId, entryType: 'consumption', amountMinor: -amountMinor, idempotencyKey: `test-consumption-${randomUUID()}`, sourceRef: `test-${randomUUID()}` });

interface OverviewBody {
  accounts: { total: number; low: number; exhausted: number };
  suspense: { count: number; amountMinor: number };
  today: { timezone: string; from: string; money: { currency: string; payments: number; revenueMinor: number; consumptionMinor: number }[] };
}
const overview = async (tz?: string) => {
  const r = await call({ method: 'GET', path: '/overview', role: 'viewer', ...(tz ? { query: { tz } } : {}) });
  expect(r.status).toBe(200);
  return r.body as unknown as OverviewBody;
};
const kes = (o: OverviewBody) => o.today.money.find((m) => m.currency === 'KES') ?? { payments: 0, revenueMinor: 0, consumptionMinor: 0 };

describe('the overview', () => {
  it("counts accounts by alert state, suspense payments, and today's revenue and consumption", async () => {
    const before = await overview();
    const low = await newAccount('Wanjiru Low');
    const gone = await newAccount('Otieno Exhausted');

    await pay(low.accountNo, 50_000);
    await pay(`NO-SUCH-${tag()}`, 12_345);
    await consume(low.id, 7_000);
    await sql`UPDATE accounts SET alert_state = 'low' WHERE id = ${low.id}`.execute(harness.db);
    await sql`UPDATE accounts SET alert_state = 'exhausted' WHERE id = ${gone.id}`.execute(harness.db);
    const after = await overview();

    expect(after.accounts.total).toBe(before.accounts.total + 2);
    expect(after.accounts.low).toBe(before.accounts.low + 1);
    expect(after.accounts.exhausted).toBe(before.accounts.exhausted + 1);
    expect(after.suspense).toEqual({ count: before.suspense.count + 1, amountMinor: before.suspense.amountMinor + 12_345 });
    expect(kes(after).payments).toBe(kes(before).payments + 2);
    expect(kes(after).revenueMinor).toBe(kes(before).revenueMinor + 62_345);
    expect(kes(after).consumptionMinor).toBe(kes(before).consumptionMinor + 7_000);
  });

  it('begins today at midnight in the asked time zone (UTC unless given), and refuses an unknown zone', async () => {
    const now = new Date();
    const utcMidnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    // Nairobi is UTC+3 all year: its midnight is 21:00 UTC the evening before (or this evening's, once past it).
    const nairobi = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), -3));
    const nairobiMidnight = now.getTime() - nairobi.getTime() >= 86_400_000 ? new Date(nairobi.getTime() + 86_400_000) : nairobi;

    expect((await overview()).today).toMatchObject({ timezone: 'UTC', from: utcMidnight.toISOString() });
    expect((await overview('Africa/Nairobi')).today).toMatchObject({ timezone: 'Africa/Nairobi', from: nairobiMidnight.toISOString() });
    const bad = await call({ method: 'GET', path: '/overview', role: 'viewer', query: { tz: 'Mars/Olympus' } });
    expect(bad.status).toBe(400);
  });
});

describe('GET /audit', () => {
  it('lists who changed what, newest first, filtered and paged, to admins only', async () => {
    const account = await newAccount('Audit Subject');
    await call({ method: 'POST', path: `/accounts/${account.id}/status`, role: 'operator', body: { status: 'suspended' } });
    await call({ method: 'POST', path: `/accounts/${account.id}/status`, role: 'operator', body: { status: 'active' } });

    const all = await call({ method: 'GET', path: '/audit', role: 'admin', query: { targetId: account.id } });
    const page = await call({ method: 'GET', path: '/audit', role: 'admin', query: { targetId: account.id, action: 'account.status', limit: '1', offset: '1' } });

    expect(all.status).toBe(200);
    const items = all.body.items as { action: string; actor: string; role: string; targetType: string; details: unknown; at: string }[];
    expect(items.map((i) => i.action)).toEqual(['account.status', 'account.status', 'account.create']);
    expect(items[0]).toMatchObject({ role: 'operator', targetType: 'account', details: { from: 'suspended', to: 'active' } });
    expect(all.body.total).toBe(3);
    expect(page.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect((page.body.items as { details: unknown }[]).map((i) => i.details)).toEqual([{ from: 'active', to: 'suspended' }]);
  });

  it('refuses operators and viewers, and a window that ends before it begins', async () => {
    expect((await call({ method: 'GET', path: '/audit', role: 'operator' })).status).toBe(403);
    expect((await call({ method: 'GET', path: '/audit', role: 'viewer' })).status).toBe(403);
    const bad = await call({ method: 'GET', path: '/audit', role: 'admin', query: { from: '2026-02-01', to: '2026-01-01' } });
    expect(bad.status).toBe(400);
  });
});

describe('accounts for the portal', () => {
  it("forecasts days of credit from the last 14 days' average daily spend, with the alert state", async () => {
    const account = await newAccount('Forecast Customer');
    await pay(account.accountNo, 100_000);
    await consume(account.id, 14_000); // 1,000 a day over 14 days: 86 days left of 86,000

    const r = await call({ method: 'GET', path: `/accounts/${account.id}`, role: 'viewer' });
    const idle = await newAccount('Idle Customer');
    const none = await call({ method: 'GET', path: `/accounts/${idle.id}`, role: 'viewer' });

    expect(r.body).toMatchObject({ balanceMinor: 86_000, alertState: 'ok', forecast: { dailySpendMinor: 1_000, daysLeft: 86, basisDays: 14 } });
    expect(none.body).toMatchObject({ forecast: { dailySpendMinor: 0, daysLeft: null } });
  });

  it('finds accounts by part of the customer name or the start of the account number, and by alert state', async () => {
    const unique = `Zawadi${tag()}`;
    const account = await newAccount(`${unique} Mwangi`);
    await sql`UPDATE accounts SET alert_state = 'critical' WHERE id = ${account.id}`.execute(harness.db);

    const byName = await call({ method: 'GET', path: '/accounts', role: 'viewer', query: { q: unique.toLowerCase() } });
    const byNumber = await call({ method: 'GET', path: '/accounts', role: 'viewer', query: { q: account.accountNo.slice(0, 9).toLowerCase() } });
    const low = await call({ method: 'GET', path: '/accounts', role: 'viewer', query: { alertState: 'low,critical', limit: '500' } });
    const bad = await call({ method: 'GET', path: '/accounts', role: 'viewer', query: { alertState: 'broke' } });

    expect((byName.body.items as { id: string; customerName: string }[]).map((a) => [a.id, a.customerName])).toEqual([[account.id, `${unique} Mwangi`]]);
    expect((byNumber.body.items as { id: string }[]).map((a) => a.id)).toContain(account.id);
    const lows = low.body.items as { id: string; alertState: string }[];
    expect(lows.map((a) => a.id)).toContain(account.id);
    expect(lows.every((a) => a.alertState === 'low' || a.alertState === 'critical')).toBe(true);
    expect(bad.status).toBe(400);
  });
});
