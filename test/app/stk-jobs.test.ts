// The STK Query job over a provider that answers as Daraja does: "still processing" leaves a request
// pending, a failure code fails it, and a success callback that arrives afterwards still wins (the
// sandbox can report failure for a paid request). A query never moves a paid request.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentProvider, StkQueryAnswer } from '#app/payments/ports';
import { initiateStkPush, queryPendingStk } from '#app/payments/stk';
import { darajaCallbackHandler } from '#app/payments/callbacks';
import { findAccount, insertAccount, insertCustomer } from '#store/accounts';
import { invariantViolations } from '#store/ledger';
import { findStkRequest, insertStkRequest, listPayments, updateStkRequest } from '#store/payments';
import { logger } from '#shared/logger';
import type { Principal } from '#domain/roles';
import { openTestDb, type TestDb } from '../support/db.ts';

let db: TestDb;
const answers = new Map<string, StkQueryAnswer>();
const provider: PaymentProvider = {
  stkPush: () => Promise.reject(new Error('not used')),
  stkQuery: async (id) => answers.get(id) ?? { state: 'pending', detail: 'The transaction is being processed' },
  pullTransactions: async () => [],
  registerC2bUrls: async () => ({}),
};
const later = () => new Date(Date.now() + 10 * 60_000);
const TOKEN = randomUUID().replace(/-/g, '') + 'tok';

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  db = await openTestDb();
});
afterAll(async () => {
  await db?.close();
});
afterEach(async () => {
  expect(await invariantViolations(db.db)).toEqual([]);
});

async function pendingRequest(checkout: string) {
  const customer = await insertCustomer(db.db, { name: 'Job test' });
  const account = await insertAccount(db.db, { customer_id: customer.id, account_no: `J${randomUUID().slice(0, 6)}`.toUpperCase() });
  return insertStkRequest(db.db, { account_id: account.id, phone: '254712345678', amount_minor: 100, account_reference: account.account_no, checkout_request_id: checkout, status: 'pending' });
}

describe('the STK Query job', () => {
  it('leaves a request pending while Daraja is still processing it', async () => {
    const request = await pendingRequest('ws_CO_PENDING');
    await queryPendingStk({ db: db.db, logger, now: later, provider, currency: 'KES' });
    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'pending' });
  });

  it('fails a request the query reports failed, and a success callback afterwards still credits it', async () => {
    const request = await pendingRequest('ws_CO_QUERY_FAILED');
    answers.set('ws_CO_QUERY_FAILED', { state: 'done', resultCode: 1037, resultDesc: 'DS timeout user cannot be reached' });
    await queryPendingStk({ db: db.db, logger, now: later, provider, currency: 'KES' });
    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'failed', result_code: '1037' });

    const handler = darajaCallbackHandler({ db: db.db, logger, now: () => new Date(), token: async () => TOKEN, currency: 'KES' });
    const body = JSON.stringify({
      Body: {
        stkCallback: {
          MerchantRequestID: 'm-1',
          CheckoutRequestID: 'ws_CO_QUERY_FAILED',
          ResultCode: 0,
          ResultDesc: 'The service request is processed successfully.',
          CallbackMetadata: { Item: [{ Name: 'Amount', Value: 1 }, { Name: 'MpesaReceiptNumber', Value: 'QRYWINS001' }, { Name: 'TransactionDate', Value: 20261130120000 }, { Name: 'PhoneNumber', Value: 254712345678 }] },
        },
      },
    });
    const path = `/integrations/daraja/${TOKEN}/stk/callback`;
    await handler({ rawPath: path, body, isBase64Encoded: false, headers: {}, requestContext: { http: { sourceIp: '127.0.0.1', method: 'POST', path }, requestId: randomUUID() } } as never);
    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'paid', receipt: 'QRYWINS001' });

    answers.set('ws_CO_QUERY_FAILED', { state: 'done', resultCode: 1032, resultDesc: 'Request cancelled by user' });
    await queryPendingStk({ db: db.db, logger, now: later, provider, currency: 'KES' });
    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'paid' });
  });
});

// Daraja's STK callback carries the CheckoutRequestID its push's answer gave us; on a fast network (or the
// simulator) the callback can arrive before that answer has been stored on the request.
describe('an STK callback that arrives before its push was answered', () => {
  const principal: Principal = { subject: 'test-operator', roles: ['operator'] };
  const actor = { principal, requestId: 'req-early' };
  const handler = () => darajaCallbackHandler({ db: db.db, logger, now: () => new Date(), token: async () => TOKEN, currency: 'KES' });
  const callbackBody = (checkout: string, receipt: string | undefined, amount = 1) =>
    JSON.stringify({
      Body: {
        stkCallback: receipt
          ? {
              MerchantRequestID: `m-${checkout}`,
              CheckoutRequestID: checkout,
              ResultCode: 0,
              ResultDesc: 'The service request is processed successfully.',
              CallbackMetadata: { Item: [{ Name: 'Amount', Value: amount }, { Name: 'MpesaReceiptNumber', Value: receipt }, { Name: 'TransactionDate', Value: 20261130120000 }, { Name: 'PhoneNumber', Value: 254712345678 }] },
            }
          : { MerchantRequestID: `m-${checkout}`, CheckoutRequestID: checkout, ResultCode: 1032, ResultDesc: 'Request cancelled by user' },
      },
    });
  async function post(body: string) {
    const path = `/integrations/daraja/${TOKEN}/stk/callback`;
    const r = await handler()({ rawPath: path, body, isBase64Encoded: false, headers: {}, requestContext: { http: { sourceIp: '127.0.0.1', method: 'POST', path }, requestId: randomUUID() } } as never);
    return (r as { statusCode: number }).statusCode;
  }
  async function newAccount() {
    const customer = await insertCustomer(db.db, { name: 'Early callback' });
    return insertAccount(db.db, { customer_id: customer.id, account_no: `E${randomUUID().slice(0, 6)}`.toUpperCase() });
  }
  const callbackRow = (checkout: string) => db.db.selectFrom('daraja_callbacks').selectAll().where('checkout_request_id', '=', checkout).executeTakeFirstOrThrow();
  /** Daraja as it behaves here: the push's callback is delivered (and answered) before the push's answer returns. */
  const racingProvider = (checkout: string, receipt: string | undefined): PaymentProvider => ({
    ...provider,
    stkPush: async () => {
      expect(await post(callbackBody(checkout, receipt))).toBe(200);
      return { merchantRequestId: `m-${checkout}`, checkoutRequestId: checkout, responseCode: '0', customerMessage: 'Success. Request accepted for processing' };
    },
  });

  it('credits the account once when the paid callback came first, and records the request paid', async () => {
    const account = await newAccount();
    const checkout = `ws_CO_EARLY_${randomUUID().slice(0, 8)}`;
    const receipt = `EARLY${randomUUID().slice(0, 5).toUpperCase()}`;

    const request = await initiateStkPush({ db: db.db, logger, now: () => new Date(), provider: racingProvider(checkout, receipt), currency: 'KES' }, account.id, { phone: '+254712345678', amountMinor: 100 }, actor);

    expect(request).toMatchObject({ status: 'paid', receipt, checkout_request_id: checkout });
    expect(Number((await findAccount(db.db, account.id))?.balance_minor)).toBe(100);
    expect((await listPayments(db.db, { accountId: account.id, limit: 10, offset: 0 })).items).toMatchObject([{ provider_transaction_id: receipt, status: 'applied' }]);
    expect(await callbackRow(checkout)).toMatchObject({ outcome: 'processed', receipt });
    // The same callback delivered again is a duplicate, not a second credit.
    expect(await post(callbackBody(checkout, receipt))).toBe(200);
    expect(Number((await findAccount(db.db, account.id))?.balance_minor)).toBe(100);
  });

  it('records the request failed when the cancelled callback came first', async () => {
    const account = await newAccount();
    const checkout = `ws_CO_EARLYNO_${randomUUID().slice(0, 8)}`;
    const request = await initiateStkPush({ db: db.db, logger, now: () => new Date(), provider: racingProvider(checkout, undefined), currency: 'KES' }, account.id, { phone: '+254712345678', amountMinor: 100 }, actor);
    expect(request).toMatchObject({ status: 'failed', result_code: '1032' });
    expect(await callbackRow(checkout)).toMatchObject({ outcome: 'processed' });
  });

  it('keeps a waiting callback stored, and the stk_query job applies it once the request has its CheckoutRequestID', async () => {
    const account = await newAccount();
    const checkout = `ws_CO_SWEEP_${randomUUID().slice(0, 8)}`;
    const receipt = `SWEEP${randomUUID().slice(0, 5).toUpperCase()}`;
    const request = await insertStkRequest(db.db, { account_id: account.id, phone: '254712345678', amount_minor: 100, account_reference: account.account_no });

    // The push is still waiting for its answer: the callback is acknowledged, stored, and waits.
    expect(await post(callbackBody(checkout, receipt))).toBe(200);
    expect(await callbackRow(checkout)).toMatchObject({ outcome: 'received', receipt, reason: expect.stringMatching(/waiting for the STK Push answer/) as string });
    expect(Number((await findAccount(db.db, account.id))?.balance_minor)).toBe(0);

    // The answer is stored, but the resume that follows it never ran (the process died in between).
    await updateStkRequest(db.db, request.id, { status: 'pending', checkoutRequestId: checkout }, new Date(), ['initiating']);
    await queryPendingStk({ db: db.db, logger, now: () => new Date(Date.now() + 60_000), provider, currency: 'KES' });

    expect(await findStkRequest(db.db, request.id)).toMatchObject({ status: 'paid', receipt });
    expect(Number((await findAccount(db.db, account.id))?.balance_minor)).toBe(100);
    expect(await callbackRow(checkout)).toMatchObject({ outcome: 'processed', receipt });
    await queryPendingStk({ db: db.db, logger, now: () => new Date(Date.now() + 120_000), provider, currency: 'KES' });
    expect(Number((await findAccount(db.db, account.id))?.balance_minor)).toBe(100);
  });

  it('holds a waiting callback as never issued once it has waited 5 minutes, though a push still awaits its answer', async () => {
    const account = await newAccount();
    // A push that never got its answer, started just before the callback arrived.
    await insertStkRequest(db.db, { account_id: account.id, phone: '254712345678', amount_minor: 100, account_reference: account.account_no, created_at: new Date(Date.now() - 1_000) });
    const checkout = `ws_CO_STALE_${randomUUID().slice(0, 8)}`;
    const receipt = `STALE${randomUUID().slice(0, 5).toUpperCase()}`;
    expect(await post(callbackBody(checkout, receipt))).toBe(200);
    expect(await callbackRow(checkout)).toMatchObject({ outcome: 'received' });
    // Six minutes on (the decision is on the database's clock: the callback's arrival is moved back), and
    // another push is awaiting its answer (a busy estate always has one): it cannot be this callback's,
    // which came before it.
    await sql`UPDATE daraja_callbacks SET received_at = received_at - interval '6 minutes' WHERE checkout_request_id = ${checkout}`.execute(db.db);
    await insertStkRequest(db.db, { account_id: account.id, phone: '254712345678', amount_minor: 100, account_reference: account.account_no });

    await queryPendingStk({ db: db.db, logger, now: () => new Date(), provider, currency: 'KES' });

    expect(await callbackRow(checkout)).toMatchObject({ outcome: 'conflict', reason: expect.stringMatching(/never issued/) as string });
    expect(Number((await findAccount(db.db, account.id))?.balance_minor)).toBe(0);
  });

  it('holds a callback for a CheckoutRequestID nobody issued as a conflict once no push has waited for an answer for 5 minutes', async () => {
    const account = await newAccount();
    // A push that never got its answer (the process died before storing it), now six minutes old.
    const stale = await insertStkRequest(db.db, { account_id: account.id, phone: '254712345678', amount_minor: 100, account_reference: account.account_no, created_at: new Date(Date.now() - 6 * 60_000) });
    await db.db.updateTable('stk_requests').set({ status: 'error' }).where('status', '=', 'initiating').where('id', '<>', stale.id).execute();
    const checkout = `ws_CO_NEVER_${randomUUID().slice(0, 8)}`;
    const receipt = `NEVER${randomUUID().slice(0, 5).toUpperCase()}`;

    expect(await post(callbackBody(checkout, receipt))).toBe(200);

    expect(await callbackRow(checkout)).toMatchObject({ outcome: 'conflict', reason: expect.stringMatching(/never issued/) as string });
    expect(Number((await findAccount(db.db, account.id))?.balance_minor)).toBe(0);
  });
});
