// Daraja's callbacks end to end over the database (PGlite, or PostgreSQL with DATABASE_URL): the real
// bodies in test/fixtures/vectors/mpesa_callbacks.json, each delivered 1-5 times concurrently and out of
// order, unknown accounts, forged and oversized callbacks, an unavailable database mid-callback. The
// ledger's invariants are checked after every test.
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { darajaCallbackHandler, MAX_CALLBACK_BYTES, type DarajaCallbackDeps } from '#app/payments/callbacks';
import type { AccountCredited } from '#app/payments/ports';
import { c2bCallbackSchema, stkCallbackSchema } from '#domain/mpesa';
import { insertAccount, insertCustomer } from '#store/accounts';
import { invariantViolations, statement } from '#store/ledger';
import { findPaymentByReceipt, insertStkRequest, findStkRequest, recordCallbackPayment, type CallbackPaymentInput } from '#store/payments';
import { ValidationError } from '#shared/errors';
import type { Account } from '#store/schema';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { loadVectors } from '../support/vectors.ts';

interface Vector {
  source: string;
  input: { raw_body?: string; body?: unknown };
  expected: { kind: 'c2b' | 'stk_callback'; TransID?: string; TransAmount?: string; BillRefNumber?: string; CheckoutRequestID?: string; success?: boolean };
}
const vectors = loadVectors<Vector>('mpesa_callbacks.json');
const rawOf = (v: Vector) => v.input.raw_body ?? JSON.stringify(v.input.body);
const c2bVectors = vectors.filter((v) => v.expected.kind === 'c2b');
const stkVectors = vectors.filter((v) => v.expected.kind === 'stk_callback');

const TOKEN = 'a'.repeat(20) + randomUUID().replace(/-/g, '');

let db: TestDb;
const credited: AccountCredited[] = [];
let deps: DarajaCallbackDeps;
let handler: ReturnType<typeof darajaCallbackHandler>;

function event(path: string, body: string, sourceIp = '196.201.214.200'): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /integrations/daraja/{proxy+}',
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp, userAgent: 'Apache-HttpClient' },
      requestId: randomUUID(),
      routeKey: 'POST /integrations/daraja/{proxy+}',
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    body,
    isBase64Encoded: false,
  };
}

async function deliver(kind: string, body: string, options: { token?: string; sourceIp?: string; via?: typeof handler } = {}) {
  const result = (await (options.via ?? handler)(event(`/integrations/daraja/${options.token ?? TOKEN}/${kind}`, body, options.sourceIp))) as APIGatewayProxyStructuredResultV2;
  return { status: result.statusCode ?? 200, body: JSON.parse(result.body ?? '{}') as Record<string, unknown> };
}

async function account(accountNo: string): Promise<Account> {
  const customer = await insertCustomer(db.db, { name: 'Test customer' });
  return insertAccount(db.db, { customer_id: customer.id, account_no: accountNo.toUpperCase() });
}

const shuffled = <T>(items: T[]): T[] => items.map((item) => ({ item, key: Math.random() })).sort((a, b) => a.key - b.key).map((x) => x.item);
const callbackCount = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM daraja_callbacks`.execute(db.db)).rows[0]?.n);

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  db = await openTestDb();
  deps = { db: db.db, logger, now: () => new Date(), token: async () => TOKEN, currency: 'KES', events: { accountCredited: async (e) => void credited.push(e) } };
  handler = darajaCallbackHandler(deps);
});

afterAll(async () => {
  await db?.close();
});

afterEach(async () => {
  expect(await invariantViolations(db.db)).toEqual([]);
});

describe('the vectors', () => {
  it.each(c2bVectors.map((v) => [v.expected.TransID, v] as const))('C2B %s parses with the schema', (_id, v) => {
    const parsed = c2bCallbackSchema.parse(JSON.parse(rawOf(v)));
    expect(parsed).toMatchObject({ TransID: v.expected.TransID, TransAmount: v.expected.TransAmount, BillRefNumber: v.expected.BillRefNumber });
  });
  it.each(stkVectors.map((v) => [v.expected.CheckoutRequestID, v] as const))('STK %s parses with the schema', (_id, v) => {
    const parsed = stkCallbackSchema.parse(JSON.parse(rawOf(v)));
    expect(parsed.Body.stkCallback.CheckoutRequestID).toBe(v.expected.CheckoutRequestID);
    expect(parsed.Body.stkCallback.ResultCode === 0).toBe(v.expected.success);
  });
});

describe('C2B confirmation', () => {
  it('credits every vector once, each delivered 1-5 times concurrently and out of order', async () => {
    for (const v of c2bVectors) await account(v.expected.BillRefNumber ?? '');
    const deliveries = shuffled(c2bVectors.flatMap((v, i) => Array.from({ length: 1 + (i % 5) + 1 }, () => rawOf(v))));
    const answers = await Promise.all(deliveries.map((body) => deliver('c2b/confirmation', body)));
    expect(answers.every((a) => a.status === 200 && a.body.ResultCode === 0)).toBe(true);
    for (const v of c2bVectors) {
      const payment = await findPaymentByReceipt(db.db, 'mpesa', v.expected.TransID ?? '');
      expect(payment).toMatchObject({ status: 'applied', amount_minor: Math.round(Number(v.expected.TransAmount) * 100) });
      const { entries } = await statement(db.db, payment?.account_id ?? '', { limit: 10 });
      expect(entries).toHaveLength(1);
    }
    expect(credited.filter((e) => c2bVectors.some((v) => v.expected.TransID === e.receipt))).toHaveLength(c2bVectors.length);
  });

  it('credits once when the same confirmation arrives 50 times at once', async () => {
    const acct = await account('STORM01');
    const body = JSON.stringify({ ...JSON.parse(rawOf(c2bVectors[0] as Vector)), TransID: 'STORM00001', BillRefNumber: 'storm01', TransAmount: '75.50' });
    const answers = await Promise.all(Array.from({ length: 50 }, () => deliver('c2b/confirmation', body)));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
    const { entries } = await statement(db.db, acct.id, { limit: 100 });
    expect(entries.map((e) => Number(e.amount_minor))).toEqual([7_550]);
    const outcomes = await sql<{ outcome: string; n: number }>`SELECT outcome, count(*)::int AS n FROM daraja_callbacks WHERE receipt = 'STORM00001' GROUP BY outcome ORDER BY outcome`.execute(db.db);
    expect(outcomes.rows).toEqual([{ outcome: 'duplicate', n: 49 }, { outcome: 'processed', n: 1 }]);
  });

  it('puts a payment for an unknown reference in suspense, never dropped', async () => {
    const body = JSON.stringify({ ...JSON.parse(rawOf(c2bVectors[0] as Vector)), TransID: 'UNKNOWN0001', BillRefNumber: 'no-such-acct' });
    expect((await deliver('c2b/confirmation', body)).status).toBe(200);
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'UNKNOWN0001')).toMatchObject({ status: 'suspense', account_id: null });
  });

  it('matches a meter number to the meter account', async () => {
    const acct = await account('MTRHOLDER');
    const meter = await db.db.insertInto('meters').values({ meter_no: 'wm-77', meter_type: 'water', unit: 'm3' }).returning('id').executeTakeFirstOrThrow();
    await db.db.insertInto('account_meters').values({ meter_id: meter.id, account_id: acct.id }).execute();
    const body = JSON.stringify({ ...JSON.parse(rawOf(c2bVectors[0] as Vector)), TransID: 'METER00001', BillRefNumber: ' WM-77 ' });
    await deliver('c2b/confirmation', body);
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'METER00001')).toMatchObject({ status: 'applied', account_id: acct.id });
  });

  it('answers 503 and writes no payment when the database fails mid-callback, then credits once on redelivery', async () => {
    await account('RETRYME');
    // The database "goes away" on the one call that stores the callback and records the payment: the
    // body is then stored raw on the way out, unprocessed.
    const failing = darajaCallbackHandler({
      ...deps,
      db: db.db.withPlugin({
        transformQuery: (args) => {
          if (JSON.stringify(args.node).includes('daraja_callback_record')) throw new Error('Connection terminated unexpectedly');
          return args.node;
        },
        transformResult: async (args) => args.result,
      }),
    });
    const body = JSON.stringify({ ...JSON.parse(rawOf(c2bVectors[0] as Vector)), TransID: 'RETRY00001', BillRefNumber: 'retryme' });
    const first = await deliver('c2b/confirmation', body, { via: failing });
    expect(first.status).toBe(503);
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'RETRY00001')).toBeUndefined();
    const stored = await sql<{ body: string; outcome: string; reason: string }>`SELECT body, outcome, reason FROM daraja_callbacks WHERE body LIKE '%RETRY00001%'`.execute(db.db);
    expect(stored.rows).toEqual([{ body, outcome: 'received', reason: 'not processed: database unavailable' }]);
    expect((await deliver('c2b/confirmation', body)).status).toBe(200);
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'RETRY00001')).toMatchObject({ status: 'applied' });
  });
});

describe('daraja_callback_record (the raw row, payment_record and the outcome in one call)', () => {
  const base = () => JSON.parse(rawOf(c2bVectors[0] as Vector)) as Record<string, unknown>;
  const input = (receipt: string, reference: string, amountMinor: number, overrides: Partial<CallbackPaymentInput> = {}): CallbackPaymentInput => {
    const body = JSON.stringify({ ...base(), TransID: receipt, BillRefNumber: reference, TransAmount: (amountMinor / 100).toFixed(2) });
    return {
      body,
      sourceIp: '196.201.214.200',
      at: new Date(),
      provider: 'mpesa',
      receipt,
      channel: 'c2b',
      amountMinor,
      currency: 'KES',
      phone: '2******9',
      reference,
      transactedAt: null,
      raw: JSON.parse(body),
      ...overrides,
    };
  };
  const outcomesOf = async (receipt: string) =>
    (await sql<{ outcome: string; n: number }>`SELECT outcome, count(*)::int AS n FROM daraja_callbacks WHERE receipt = ${receipt} GROUP BY outcome ORDER BY outcome`.execute(db.db)).rows;

  it('credits once when called twice, then 20 times concurrently, with the same receipt', async () => {
    const acct = await account('MERGED01');
    const first = await recordCallbackPayment(db.db, input('MERGED0001', 'merged01', 12_345));
    expect(first).toMatchObject({ ok: true, outcome: 'processed', payment: { status: 'applied', created: true, accountId: acct.id, balanceAfterMinor: 12_345 } });
    const again = await recordCallbackPayment(db.db, input('MERGED0001', 'merged01', 12_345));
    expect(again).toMatchObject({ ok: true, outcome: 'duplicate', payment: { created: false, status: 'applied' } });
    const storm = await Promise.all(Array.from({ length: 20 }, () => recordCallbackPayment(db.db, input('MERGED0002', 'MERGED01', 500))));
    expect(storm.filter((r) => r.ok && r.payment.created)).toHaveLength(1);
    expect((await statement(db.db, acct.id, { limit: 100 })).entries.map((e) => Number(e.amount_minor)).sort((a, b) => a - b)).toEqual([500, 12_345]);
    expect(await outcomesOf('MERGED0001')).toEqual([{ outcome: 'duplicate', n: 1 }, { outcome: 'processed', n: 1 }]);
    expect(await outcomesOf('MERGED0002')).toEqual([{ outcome: 'duplicate', n: 19 }, { outcome: 'processed', n: 1 }]);
  });

  it('holds a repeat with another amount as a conflict, and leaves an unknown reference in suspense', async () => {
    const acct = await account('MERGED02');
    await recordCallbackPayment(db.db, input('MERGED0003', 'merged02', 1_000));
    const other = await recordCallbackPayment(db.db, input('MERGED0003', 'merged02', 2_000));
    expect(other).toMatchObject({ ok: true, outcome: 'conflict', payment: { created: false, amountMinor: 1_000 } });
    const kept = await sql<{ reason: string }>`SELECT reason FROM daraja_callbacks WHERE receipt = 'MERGED0003' AND outcome = 'conflict'`.execute(db.db);
    expect(kept.rows).toEqual([{ reason: 'receipt MERGED0003 was recorded with 1000, this callback says 2000' }]);
    expect((await statement(db.db, acct.id, { limit: 10 })).entries.map((e) => Number(e.amount_minor))).toEqual([1_000]);
    const unknown = await recordCallbackPayment(db.db, input('MERGED0004', 'nobody-here', 700));
    expect(unknown).toMatchObject({ ok: true, outcome: 'processed', payment: { status: 'suspense', accountId: null, created: true } });
  });

  it('keeps the raw callback when payment_record refuses it, and credits nothing', async () => {
    await account('MERGED03');
    // A currency the payments table refuses: payment_record raises inside the call.
    const refused = await recordCallbackPayment(db.db, input('MERGED0005', 'merged03', 900, { currency: 'kes' }));
    expect(refused).toMatchObject({ ok: false, outcome: 'received' });
    expect(refused.ok ? undefined : refused.error).toBeInstanceOf(ValidationError);
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'MERGED0005')).toBeUndefined();
    const kept = await sql<{ body: string; outcome: string; reason: string; payment_id: string | null }>`
      SELECT body, outcome, reason, payment_id FROM daraja_callbacks WHERE receipt = 'MERGED0005'`.execute(db.db);
    expect(kept.rows).toMatchObject([{ body: input('MERGED0005', 'merged03', 900).body, outcome: 'received', payment_id: null }]);
    expect(kept.rows[0]?.reason).toMatch(/^not processed: 23514 /);
  });

  it('answers a confirmation payment_record refuses with no 2xx, the body stored', async () => {
    await account('MERGED04');
    const refusing = darajaCallbackHandler({ ...deps, currency: 'kes' });
    const body = JSON.stringify({ ...base(), TransID: 'MERGED0006', BillRefNumber: 'merged04' });
    expect((await deliver('c2b/confirmation', body, { via: refusing })).status).toBe(400);
    expect(await outcomesOf('MERGED0006')).toEqual([{ outcome: 'received', n: 1 }]);
    expect((await deliver('c2b/confirmation', body)).status).toBe(200);
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'MERGED0006')).toMatchObject({ status: 'applied' });
  });
});

describe('refused callbacks', () => {
  it('answers a wrong token with 404 and stores nothing', async () => {
    const before = await callbackCount();
    const answer = await deliver('c2b/confirmation', rawOf(c2bVectors[0] as Vector), { token: 'b'.repeat(52) });
    expect(answer.status).toBe(404);
    expect(await callbackCount()).toBe(before);
  });

  it('answers an address outside DARAJA_ALLOWED_IPS with 404 and stores nothing', async () => {
    const guarded = darajaCallbackHandler({ ...deps, allowedIps: ['196.201.214.200'] });
    const before = await callbackCount();
    expect((await deliver('c2b/confirmation', rawOf(c2bVectors[0] as Vector), { via: guarded, sourceIp: '10.0.0.1' })).status).toBe(404);
    expect(await callbackCount()).toBe(before);
  });

  it('answers an oversized body with 413 and stores nothing', async () => {
    const before = await callbackCount();
    const answer = await deliver('c2b/confirmation', JSON.stringify({ pad: 'x'.repeat(MAX_CALLBACK_BYTES) }));
    expect(answer.status).toBe(413);
    expect(await callbackCount()).toBe(before);
  });

  it('keeps a malformed body with its reason and answers 400', async () => {
    const answer = await deliver('c2b/confirmation', '{"TransID": "X", "TransAmount": "-5"}');
    expect(answer.status).toBe(400);
    const kept = await sql<{ outcome: string; reason: string }>`SELECT outcome, reason FROM daraja_callbacks WHERE body = '{"TransID": "X", "TransAmount": "-5"}'`.execute(db.db);
    expect(kept.rows[0]).toMatchObject({ outcome: 'invalid' });
    expect(kept.rows[0]?.reason).toMatch(/TransID|TransAmount/);
  });

  it('keeps a body that is not JSON and answers 400', async () => {
    expect((await deliver('stk/callback', 'not json <xml/>')).status).toBe(400);
    const kept = await sql<{ outcome: string }>`SELECT outcome FROM daraja_callbacks WHERE body = 'not json <xml/>'`.execute(db.db);
    expect(kept.rows).toEqual([{ outcome: 'invalid' }]);
  });
});

describe('C2B validation', () => {
  it('accepts a known account number and rejects an unknown one with C2B00012', async () => {
    await account('VALID01');
    const base = JSON.parse(rawOf(c2bVectors[0] as Vector)) as Record<string, unknown>;
    expect((await deliver('c2b/validation', JSON.stringify({ ...base, TransID: 'VAL0000001', BillRefNumber: 'valid01' }))).body).toEqual({ ResultCode: '0', ResultDesc: 'Accepted' });
    expect((await deliver('c2b/validation', JSON.stringify({ ...base, TransID: 'VAL0000002', BillRefNumber: 'nope' }))).body).toEqual({ ResultCode: 'C2B00012', ResultDesc: 'Rejected' });
  });

  it('stores each validation once with its answer: a meter number, a closed account, an empty reference', async () => {
    const holder = await account('VALID02');
    const meter = await db.db.insertInto('meters').values({ meter_no: 'vm-12', meter_type: 'electricity', unit: 'kWh' }).returning('id').executeTakeFirstOrThrow();
    await db.db.insertInto('account_meters').values({ meter_id: meter.id, account_id: holder.id }).execute();
    const closed = await account('VALID03');
    await db.db.updateTable('accounts').set({ status: 'closed' }).where('id', '=', closed.id).execute();
    const base = JSON.parse(rawOf(c2bVectors[0] as Vector)) as Record<string, unknown>;
    const validate = async (receipt: string, reference: string) => (await deliver('c2b/validation', JSON.stringify({ ...base, TransID: receipt, BillRefNumber: reference }))).body;
    expect(await validate('VAL0000003', ' VM-12 ')).toEqual({ ResultCode: '0', ResultDesc: 'Accepted' });
    expect(await validate('VAL0000004', 'valid03')).toEqual({ ResultCode: 'C2B00012', ResultDesc: 'Rejected' });
    expect(await validate('VAL0000005', '')).toEqual({ ResultCode: 'C2B00012', ResultDesc: 'Rejected' });
    const rows = await sql<{ receipt: string; kind: string; outcome: string; reason: string | null; settled: boolean }>`
      SELECT receipt, kind, outcome, reason, processed_at IS NOT NULL AS settled FROM daraja_callbacks
      WHERE receipt IN ('VAL0000003', 'VAL0000004', 'VAL0000005') ORDER BY receipt`.execute(db.db);
    expect(rows.rows).toEqual([
      { receipt: 'VAL0000003', kind: 'c2b_validation', outcome: 'accepted', reason: null, settled: true },
      { receipt: 'VAL0000004', kind: 'c2b_validation', outcome: 'rejected', reason: 'account VALID03 is closed', settled: true },
      { receipt: 'VAL0000005', kind: 'c2b_validation', outcome: 'rejected', reason: 'no account or meter has the reference ""', settled: true },
    ]);
  });
});

describe('STK callbacks', () => {
  async function stkRequest(acct: Account, checkoutRequestId: string, amountMinor: number) {
    return insertStkRequest(db.db, { account_id: acct.id, phone: '254700000000', amount_minor: amountMinor, account_reference: acct.account_no, checkout_request_id: checkoutRequestId, merchant_request_id: randomUUID(), status: 'pending' });
  }
  const paidVector = stkVectors.find((v) => v.expected.success) as Vector;
  const cancelledVector = stkVectors.find((v) => !v.expected.success) as Vector;

  it('credits a paid request to its account once, delivered several times concurrently', async () => {
    const acct = await account('STK01');
    const request = await stkRequest(acct, paidVector.expected.CheckoutRequestID ?? '', 100);
    const answers = await Promise.all(Array.from({ length: 4 }, () => deliver('stk/callback', rawOf(paidVector))));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'paid', receipt: 'QKL4CL10OG' });
    const { entries } = await statement(db.db, acct.id, { limit: 10 });
    expect(entries.map((e) => Number(e.amount_minor))).toEqual([100]);
  });

  it('holds a callback whose amount differs from the request as a conflict', async () => {
    const v = stkVectors.filter((x) => x.expected.success)[1] as Vector;
    const acct = await account('STK02');
    const request = await stkRequest(acct, v.expected.CheckoutRequestID ?? '', 5_000);
    await deliver('stk/callback', rawOf(v));
    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'conflict' });
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'LGR7OWQX0R')).toMatchObject({ status: 'conflict' });
    expect((await statement(db.db, acct.id, { limit: 10 })).entries).toHaveLength(0);
  });

  it('holds a paid callback for a CheckoutRequestID we never issued as a conflict', async () => {
    const v = stkVectors.filter((x) => x.expected.success)[2] as Vector;
    expect((await deliver('stk/callback', rawOf(v))).status).toBe(200);
    expect(await findPaymentByReceipt(db.db, 'mpesa', 'RLA0R69NXM')).toMatchObject({ status: 'conflict', account_id: null });
  });

  it('records a cancellation, and a late cancellation never overrides a success', async () => {
    const acct = await account('STK03');
    const request = await stkRequest(acct, cancelledVector.expected.CheckoutRequestID ?? '', 100);
    await deliver('stk/callback', rawOf(cancelledVector));
    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'failed', result_code: '1032' });
    const paid = await stkRequest(acct, 'ws_CO_LATE_CANCEL', 100);
    const success = JSON.parse(rawOf(paidVector)) as { Body: { stkCallback: Record<string, unknown> } };
    success.Body.stkCallback.CheckoutRequestID = 'ws_CO_LATE_CANCEL';
    (success.Body.stkCallback.CallbackMetadata as { Item: { Name: string; Value?: unknown }[] }).Item[1] = { Name: 'MpesaReceiptNumber', Value: 'LATECANCEL1' };
    await deliver('stk/callback', JSON.stringify(success));
    await deliver('stk/callback', JSON.stringify({ Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'ws_CO_LATE_CANCEL', ResultCode: 1032, ResultDesc: 'Request cancelled by user' } } }));
    expect(await findStkRequest(db.db, paid.id)).toMatchObject({ status: 'paid', receipt: 'LATECANCEL1' });
  });
});
