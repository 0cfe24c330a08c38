// The prepaid money-in loop on the local platform (`npm start` wiring, in-process): a customer and an
// account over the HTTP API, paid by C2B and by STK Push through the Daraja simulator, each seen once in
// the statement; an unknown reference in suspense, then allocated; an STK callback that never arrives,
// credited once by reconciliation; and the ledger invariants after each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '#app/payments/stk';
import type { DarajaSimulator } from '#runtime/daraja-sim/index';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;
let sim: DarajaSimulator;
let operator: string;
let admin: string;

async function call(method: string, path: string, body?: unknown, options: { token?: string; accept?: string } = {}) {
  const response = await fetch(`${platform.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${options.token ?? operator}`, ...(body ? { 'content-type': 'application/json' } : {}), ...(options.accept ? { accept: options.accept } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, text, body: (response.headers.get('content-type') ?? '').includes('json') && text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function invariantsHold() {
  const r = await call('GET', '/admin/ledger/invariants', undefined, { token: admin });
  expect(r.body).toEqual({ ok: true, violations: [] });
}

async function newAccount(accountNo: string) {
  const customer = await call('POST', '/customers', { name: 'Achieng Odhiambo', phone: '+254712345678' });
  expect(customer.status).toBe(201);
  const account = await call('POST', '/accounts', { customerId: customer.body.id, accountNo });
  expect(account.status).toBe(201);
  return account.body as { id: string; accountNo: string };
}

async function statementOf(accountId: string) {
  return (await call('GET', `/accounts/${accountId}/statement`)).body as { items: { entryType: string; amountMinor: number; balanceAfterMinor: number }[]; closingBalanceMinor: number };
}

beforeAll(async () => {
  platform = await startTestPlatform({ DARAJA_SIMULATOR_STK_DELAY_MS: '20', SCHEDULER_ENABLED: 'false' });
  sim = platform.payments.simulator as DarajaSimulator;
  operator = await platform.token('operator');
  admin = await platform.token('admin');
}, 60_000);

afterAll(async () => {
  await platform?.dispose();
});

describe('paying a prepaid account with M-Pesa', () => {
  it('credits a C2B payment and an STK Push once each, shown in the statement and the balance', async () => {
    const account = await newAccount('QA1001');

    const c2b = await sim.simulateC2b({ amount: 250, msisdn: '254712345678', billRef: 'qa1001 ' });
    expect(c2b.validation?.body).toEqual({ ResultCode: '0', ResultDesc: 'Accepted' });
    expect(c2b.confirmation?.status).toBe(200);

    const push = await call('POST', `/accounts/${account.id}/stk-push`, { phone: '+254712345678', amountMinor: 10_000 });
    expect(push.status).toBe(202);
    await sim.settled();
    expect((await call('GET', `/stk-requests/${String(push.body.id)}`)).body).toMatchObject({ status: 'paid', amountMinor: 10_000 });

    const statement = await statementOf(account.id);
    expect(statement.items.map((i) => [i.entryType, i.amountMinor, i.balanceAfterMinor])).toEqual([
      ['payment', 25_000, 25_000],
      ['payment', 10_000, 35_000],
    ]);
    const summary = (await call('GET', `/accounts/${account.id}`)).body;
    expect(summary).toMatchObject({ balanceMinor: 35_000, lastPayment: { channel: 'stk', status: 'applied', amountMinor: 10_000 } });

    const csv = await call('GET', `/accounts/${account.id}/statement`, undefined, { accept: 'text/csv' });
    expect(csv.text.split('\r\n')[0]).toBe('entryId,at,entryType,amountMinor,balanceAfterMinor,description,paymentId,reversesEntryId,reason,sourceRef');
    expect(csv.text.trim().split('\r\n')).toHaveLength(3);
    await invariantsHold();
  });

  it('keeps a payment for an unknown reference in suspense until an operator allocates it', async () => {
    const account = await newAccount('QA1002');
    // Validation rejects the unknown reference; confirmation alone (validation off) must still keep it.
    const rejected = await sim.simulateC2b({ amount: 40, msisdn: '254712345678', billRef: 'TYPO-1002' });
    expect(rejected.validation?.body).toMatchObject({ ResultCode: 'C2B00012' });
    const urls = sim.registeredUrls;
    const confirm = await fetch(urls?.ConfirmationURL ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ TransactionType: 'Pay Bill', TransID: 'SUSP000001', TransTime: '20261130101010', TransAmount: '40.00', BusinessShortCode: '174379', BillRefNumber: 'TYPO-1002', MSISDN: '2******8' }),
    });
    expect(confirm.status).toBe(200);
    const suspense = (await call('GET', '/payments?status=suspense&receipt=susp000001')).body.items as { id: string; receipt: string }[];
    expect(suspense.map((p) => p.receipt)).toEqual(['SUSP000001']);

    const allocated = await call('POST', `/payments/${suspense[0]?.id}/allocate`, { accountId: account.id });
    expect(allocated.body).toMatchObject({ status: 'applied', accountId: account.id, balanceAfterMinor: 4_000 });
    expect((await statementOf(account.id)).closingBalanceMinor).toBe(4_000);
    await invariantsHold();
  });

  it('credits a paid STK Push whose callback never came once, by reconciliation', async () => {
    const account = await newAccount('QA1003');
    const push = await call('POST', `/accounts/${account.id}/stk-push`, { phone: '+254711119999', amountMinor: 5_000 });
    expect(push.status).toBe(202);
    await sim.settled();
    expect((await call('GET', `/stk-requests/${String(push.body.id)}`)).body).toMatchObject({ status: 'pending' });

    const first = await reconcile(platform.payments.deps);
    const second = await reconcile(platform.payments.deps);
    expect(first.credited).toBeGreaterThanOrEqual(1);
    expect(second.credited).toBe(0);
    expect((await statementOf(account.id)).items.map((i) => i.amountMinor)).toEqual([5_000]);
    await invariantsHold();
  });

  it('records a cancelled STK Push without crediting anything', async () => {
    const account = await newAccount('QA1004');
    const push = await call('POST', `/accounts/${account.id}/stk-push`, { phone: '+254711111032', amountMinor: 5_000 });
    await sim.settled();
    expect((await call('GET', `/stk-requests/${String(push.body.id)}`)).body).toMatchObject({ status: 'failed', resultCode: '1032' });
    expect((await statementOf(account.id)).items).toEqual([]);
    await invariantsHold();
  });

  it('reverses a payment (admin) with a reversal entry, once', async () => {
    const account = await newAccount('QA1005');
    await sim.simulateC2b({ amount: 75, msisdn: '254712345678', billRef: 'QA1005' });
    const [payment] = (await call('GET', `/payments?accountId=${account.id}`)).body.items as { id: string }[];
    expect((await call('POST', `/payments/${payment?.id}/reverse`, { reason: 'paid to the wrong account' })).status).toBe(403);
    const reversed = await call('POST', `/payments/${payment?.id}/reverse`, { reason: 'paid to the wrong account' }, { token: admin });
    expect(reversed.body).toMatchObject({ status: 'reversed', balanceAfterMinor: 0, reversedNow: true });
    const again = await call('POST', `/payments/${payment?.id}/reverse`, { reason: 'paid to the wrong account' }, { token: admin });
    expect(again.body).toMatchObject({ reversedNow: false });
    expect((await statementOf(account.id)).items.map((i) => i.entryType)).toEqual(['payment', 'reversal']);
    await invariantsHold();
  });

  it('finds accounts by account number, meter number and phone', async () => {
    const account = await newAccount('QA1006');
    const meter = await call('POST', '/meters', { meterNo: 'EM-1006', meterType: 'electricity' });
    expect((await call('POST', `/meters/${String(meter.body.id)}/account`, { accountId: account.id })).status).toBe(200);
    const ids = async (q: string) => ((await call('GET', `/accounts?${q}`)).body.items as { id: string }[]).map((a) => a.id);
    expect(await ids('accountNo=qa1006')).toEqual([account.id]);
    expect(await ids('meterNo=em-1006')).toEqual([account.id]);
    expect(await ids(`phone=${encodeURIComponent('+254712345678')}`)).toContain(account.id);
    await sim.simulateC2b({ amount: 10, msisdn: '254712345678', billRef: 'EM-1006' });
    expect((await call('GET', `/accounts/${account.id}`)).body).toMatchObject({ balanceMinor: 1_000, meters: [{ meterNo: 'EM-1006' }] });
  });

  it('answers the customer, account, payment and callback lists as every list: one page, the filter\'s total, limit and offset', async () => {
    const account = await newAccount('QA1007');
    for (const amount of [11, 12, 13]) await sim.simulateC2b({ amount, msisdn: '254712345678', billRef: 'QA1007' });
    const amounts = async (q: string) => {
      const page = (await call('GET', `/payments?accountId=${account.id}&${q}`)).body;
      expect(page.total).toBe(3);
      return (page.items as { amountMinor: number }[]).map((p) => p.amountMinor);
    };
    expect((await call('GET', `/payments?accountId=${account.id}&limit=2&offset=1`)).body).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect([...(await amounts('limit=1')), ...(await amounts('limit=2&offset=1'))].sort()).toEqual([1_100, 1_200, 1_300]);
    expect((await call('GET', '/accounts?accountNo=QA1007&limit=1')).body).toMatchObject({ total: 1, limit: 1, offset: 0, items: [{ id: account.id }] });
    const customers = (await call('GET', '/customers?limit=1')).body;
    expect(customers).toMatchObject({ limit: 1, offset: 0 });
    expect(customers.total as number).toBeGreaterThanOrEqual(1);
    expect(customers.items as unknown[]).toHaveLength(1);
    const callbacks = (await call('GET', '/integrations/daraja/callbacks?limit=1')).body;
    expect(callbacks.total as number).toBeGreaterThanOrEqual(3);
    expect(callbacks.items as unknown[]).toHaveLength(1);
  });

  it('answers a callback with a wrong token 404, outside the JWT authorizer', async () => {
    const r = await fetch(`${platform.httpUrl}/integrations/daraja/${'0'.repeat(64)}/c2b/confirmation`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(404);
  });
});
