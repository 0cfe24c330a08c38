// The STK Query job over a provider that answers as Daraja does: "still processing" leaves a request
// pending, a failure code fails it, and a success callback that arrives afterwards still wins (the
// sandbox can report failure for a paid request). A query never moves a paid request.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentProvider, StkQueryAnswer } from '#app/payments/ports';
import { queryPendingStk } from '#app/payments/stk';
import { darajaCallbackHandler } from '#app/payments/callbacks';
import { insertAccount, insertCustomer } from '#store/accounts';
import { invariantViolations } from '#store/ledger';
import { findStkRequest, insertStkRequest } from '#store/payments';
import { logger } from '#shared/logger';
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
