// The accounts API through the Lambda handler (API Gateway events, the JWT authorizer's claims): input
// validation, roles, audit, look-ups, admin adjustments and reversals with their reasons, meter links
// with history; the ledger invariants after every test.
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { EventInput } from '../support/api.ts';
import { apiHandlerOverTestDb } from '../support/api-handler.ts';

const harness = apiHandlerOverTestDb();
const call = (input: EventInput) => harness.call(input);

async function newAccount(accountNo: string) {
  const customer = await call({ method: 'POST', path: '/customers', role: 'operator', body: { name: 'Kamau', phone: '+254722000111', email: 'kamau@example.com' } });
  const account = await call({ method: 'POST', path: '/accounts', role: 'operator', body: { customerId: customer.body.id, accountNo } });
  return { customer: customer.body, account: account.body as { id: string; accountNo: string; balanceMinor: number } };
}

describe('customers and accounts', () => {
  it('creates a customer and an account, stores the account number upper case, and audits both', async () => {
    const { customer, account } = await newAccount('ke-001');
    expect(account).toMatchObject({ accountNo: 'KE-001', currency: 'KES', balanceMinor: 0, status: 'active' });
    const audits = await sql<{ action: string }>`SELECT action FROM audit_log WHERE target_id IN (${String(customer.id)}, ${account.id}) ORDER BY id`.execute(harness.db);
    expect(audits.rows.map((r) => r.action)).toEqual(['customer.create', 'account.create']);
  });

  it('refuses a duplicate account number whatever its case', async () => {
    await newAccount('DUP-1');
    const { customer } = await newAccount('DUP-2');
    const again = await call({ method: 'POST', path: '/accounts', role: 'operator', body: { customerId: customer.id, accountNo: 'dup-1' } });
    expect(again.status).toBe(409);
  });

  it('refuses a phone that is not E.164 and an account number customers cannot type', async () => {
    expect((await call({ method: 'POST', path: '/customers', role: 'operator', body: { name: 'X', phone: '0712 345678' } })).status).toBe(400);
    const { customer } = await newAccount('OK-1');
    expect((await call({ method: 'POST', path: '/accounts', role: 'operator', body: { customerId: customer.id, accountNo: 'has space' } })).status).toBe(400);
    expect((await call({ method: 'POST', path: '/accounts', role: 'operator', body: { customerId: customer.id, accountNo: 'THIRTEENCHARS' } })).status).toBe(400);
  });

  it('lets a viewer read but not create', async () => {
    expect((await call({ method: 'POST', path: '/customers', role: 'viewer', body: { name: 'X' } })).status).toBe(403);
    expect((await call({ method: 'GET', path: '/customers', role: 'viewer' })).status).toBe(200);
  });
});

describe('admin postings', () => {
  it('adjusts a balance with a reason, once per key, admin only', async () => {
    const { account } = await newAccount('ADJ-1');
    const body = { amountMinor: 5_000, reason: 'goodwill credit after outage', idempotencyKey: 'ticket-4711' };
    expect((await call({ method: 'POST', path: `/accounts/${account.id}/adjustments`, role: 'operator', body })).status).toBe(403);
    const first = await call({ method: 'POST', path: `/accounts/${account.id}/adjustments`, role: 'admin', body });
    const again = await call({ method: 'POST', path: `/accounts/${account.id}/adjustments`, role: 'admin', body });
    expect(first).toMatchObject({ status: 201, body: { balanceAfterMinor: 5_000, created: true } });
    expect(again).toMatchObject({ status: 200, body: { entryId: first.body.entryId, created: false } });
    const changed = await call({ method: 'POST', path: `/accounts/${account.id}/adjustments`, role: 'admin', body: { ...body, amountMinor: 6_000 } });
    expect(changed.status).toBe(409);
    expect((await call({ method: 'POST', path: `/accounts/${account.id}/adjustments`, role: 'admin', body: { amountMinor: 1, idempotencyKey: 'no-reason-1' } })).status).toBe(400);
  });

  it('reverses an entry once, and the statement shows both with running balances', async () => {
    const { account } = await newAccount('REV-1');
    const posted = await call({ method: 'POST', path: `/accounts/${account.id}/adjustments`, role: 'admin', body: { amountMinor: 900, reason: 'typed 900 for 90', idempotencyKey: 'rev-1-adjustment' } });
    const reversal = await call({ method: 'POST', path: `/accounts/${account.id}/reversals`, role: 'admin', body: { entryId: posted.body.entryId, reason: 'wrong amount' } });
    expect(reversal).toMatchObject({ status: 201, body: { balanceAfterMinor: 0 } });
    expect((await call({ method: 'POST', path: `/accounts/${account.id}/reversals`, role: 'admin', body: { entryId: reversal.body.entryId, reason: 'reverse the reversal' } })).status).toBe(400);
    const statement = await call({ method: 'GET', path: `/accounts/${account.id}/statement`, role: 'viewer' });
    expect((statement.body.items as { entryType: string; balanceAfterMinor: number }[]).map((i) => [i.entryType, i.balanceAfterMinor])).toEqual([
      ['adjustment', 900],
      ['reversal', 0],
    ]);
  });
});

describe('meter links', () => {
  it('moves a meter between accounts keeping the history, and audits each change', async () => {
    const a = await newAccount('LNK-A');
    const b = await newAccount('LNK-B');
    const meter = await call({ method: 'POST', path: '/meters', role: 'operator', body: { meterNo: 'LNK-M1', meterType: 'water', accountId: a.account.id } });
    expect(meter.status).toBe(201);
    const moved = await call({ method: 'POST', path: `/meters/${String(meter.body.id)}/account`, role: 'operator', body: { accountId: b.account.id } });
    expect((moved.body.history as { accountId: string; validTo: string | null }[]).map((h) => [h.accountId, h.validTo === null])).toEqual([
      [b.account.id, true],
      [a.account.id, false],
    ]);
    const byMeter = await call({ method: 'GET', path: '/accounts', role: 'viewer', query: { meterNo: 'lnk-m1' } });
    expect((byMeter.body.items as { id: string }[]).map((x) => x.id)).toEqual([b.account.id]);
  });

  it('answers 404 for an unknown meter or account', async () => {
    const a = await newAccount('LNK-C');
    expect((await call({ method: 'POST', path: '/meters/00000000-0000-4000-8000-000000000000/account', role: 'operator', body: { accountId: a.account.id } })).status).toBe(404);
  });
});

describe('STK Push without M-Pesa configured', () => {
  it('answers 503', async () => {
    const { account } = await newAccount('STK-X');
    expect((await call({ method: 'POST', path: `/accounts/${account.id}/stk-push`, role: 'operator', body: { phone: '+254712345678', amountMinor: 100 } })).status).toBe(503);
  });
});

describe('the invariants endpoint', () => {
  it('is for admins, and says ok', async () => {
    expect((await call({ method: 'GET', path: '/admin/ledger/invariants', role: 'operator' })).status).toBe(403);
    expect((await call({ method: 'GET', path: '/admin/ledger/invariants', role: 'admin' })).body).toEqual({ ok: true, violations: [] });
  });
});
