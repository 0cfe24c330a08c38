// The C2B hot path's two statements on both ways to the database (the driver, and the RDS Data API the
// Lambdas use): daraja_callback_record (raw row, payment_record, outcome in one call) and the validation's
// one INSERT … SELECT; and whether an STK callback may wait for its push, kept waiting and settled once. The
// ledger's invariants hold after each test.
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertAccount, insertCustomer } from '#store/accounts';
import type { Db } from '#store/db';
import { invariantViolations, statement } from '#store/ledger';
import {
  deferCallback,
  deferredStkCallbacks,
  findPaymentByReceipt,
  insertCallback,
  insertStkRequest,
  recordCallbackPayment,
  recordValidation,
  settleCallback,
  stkCallbackMayWait,
  type CallbackPaymentInput,
} from '#store/payments';
import { ValidationError } from '#shared/errors';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('Daraja callbacks in one statement via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let db: Db;
  beforeAll(async () => {
    testDb = await open();
    db = testDb.db;
  });
  afterAll(async () => {
    await testDb?.close();
  });
  afterEach(async () => {
    expect(await invariantViolations(db)).toEqual([]);
  });

  const account = async (accountNo: string) => insertAccount(db, { customer_id: (await insertCustomer(db, { name: 'Test customer' })).id, account_no: accountNo });
  const input = (receipt: string, reference: string, amountMinor: number, currency = 'KES'): CallbackPaymentInput => {
    const body = JSON.stringify({ TransID: receipt, BillRefNumber: reference, TransAmount: (amountMinor / 100).toFixed(2) });
    return { body, sourceIp: '196.201.214.200', at: new Date(), provider: 'mpesa', receipt, channel: 'c2b', amountMinor, currency, phone: null, reference, transactedAt: null, raw: JSON.parse(body) };
  };

  it('credits a receipt once, called twice and then concurrently', async () => {
    const acct = await account('ONECALL1');
    expect(await recordCallbackPayment(db, input('ONECALL001', 'onecall1', 4_000))).toMatchObject({ ok: true, outcome: 'processed', payment: { created: true, status: 'applied', balanceAfterMinor: 4_000 } });
    expect(await recordCallbackPayment(db, input('ONECALL001', 'onecall1', 4_000))).toMatchObject({ ok: true, outcome: 'duplicate', payment: { created: false } });
    const many = await Promise.all(Array.from({ length: 8 }, () => recordCallbackPayment(db, input('ONECALL002', 'onecall1', 300))));
    expect(many.filter((r) => r.ok && r.payment.created)).toHaveLength(1);
    expect((await statement(db, acct.id, { limit: 10 })).entries.map((e) => Number(e.amount_minor)).sort((a, b) => a - b)).toEqual([300, 4_000]);
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM daraja_callbacks WHERE receipt IN ('ONECALL001', 'ONECALL002') AND processed_at IS NOT NULL`.execute(db);
    expect(rows.rows).toEqual([{ n: 10 }]);
  });

  it('keeps the raw callback when payment_record refuses it', async () => {
    await account('ONECALL2');
    const refused = await recordCallbackPayment(db, input('ONECALL003', 'onecall2', 500, 'kes'));
    expect(refused).toMatchObject({ ok: false, outcome: 'received' });
    expect(refused.ok ? undefined : refused.error).toBeInstanceOf(ValidationError);
    expect(await findPaymentByReceipt(db, 'mpesa', 'ONECALL003')).toBeUndefined();
    const kept = await sql<{ outcome: string; reason: string }>`SELECT outcome, reason FROM daraja_callbacks WHERE receipt = 'ONECALL003'`.execute(db);
    expect(kept.rows).toHaveLength(1);
    expect(kept.rows[0]?.outcome).toBe('received');
    expect(kept.rows[0]?.reason).toMatch(/^not processed: 23514 /);
  });

  it('answers a validation in one statement, stored with its outcome', async () => {
    await account('ONECALL3');
    const at = new Date();
    expect(await recordValidation(db, { body: '{}', sourceIp: null, reference: ' onecall3 ', receipt: 'ONEVAL0001', at })).toEqual({ outcome: 'accepted', reason: null });
    expect(await recordValidation(db, { body: '{}', sourceIp: null, reference: 'nobody', receipt: 'ONEVAL0002', at })).toEqual({ outcome: 'rejected', reason: 'no account or meter has the reference "nobody"' });
  });

  it('may wait for its STK push only for one started in the 5 minutes before it arrived, and only for 5 minutes; waiting, it keeps its receipt', async () => {
    const acct = await insertAccount(db, { customer_id: (await insertCustomer(db, { name: 'Waiting' })).id, account_no: 'WAIT01' });
    const callback = () => insertCallback(db, { kind: 'stk_callback', body: '{}', sourceIp: '196.201.214.200' });
    const first = await callback();
    expect(await stkCallbackMayWait(db, first)).toBe(false);

    await insertStkRequest(db, { account_id: acct.id, phone: '254712345678', amount_minor: 100, account_reference: 'WAIT01' });
    const second = await callback();
    expect(await stkCallbackMayWait(db, second)).toBe(true);
    // The push came after the first callback: not its push.
    expect(await stkCallbackMayWait(db, first)).toBe(false);
    // Six minutes on: waited long enough.
    await sql`UPDATE daraja_callbacks SET received_at = received_at - interval '6 minutes' WHERE id = ${second}::uuid`.execute(db);
    expect(await stkCallbackMayWait(db, second)).toBe(false);

    const third = await callback();
    await deferCallback(db, third, { checkoutRequestId: 'ws_CO_WAIT01', receipt: 'WAITREC001', reason: 'waiting' });
    expect(await deferredStkCallbacks(db, { checkoutRequestId: 'ws_CO_WAIT01' })).toMatchObject([{ id: third, outcome: 'received', receipt: 'WAITREC001' }]);
    await settleCallback(db, third, { outcome: 'processed', receipt: 'WAITREC001' }, new Date());
    // Settled once: a second settle (a concurrent application) changes nothing.
    await settleCallback(db, third, { outcome: 'duplicate', receipt: 'WAITREC001' }, new Date());
    expect(await deferredStkCallbacks(db, { checkoutRequestId: 'ws_CO_WAIT01' })).toEqual([]);
    const row = await db.selectFrom('daraja_callbacks').select('outcome').where('id', '=', third).executeTakeFirstOrThrow();
    expect(row.outcome).toBe('processed');
  });
});
