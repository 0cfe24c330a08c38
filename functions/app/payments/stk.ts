// STK Push from the API, the STK Query job for requests whose callback is late, and the Pull Transactions
// reconciliation that credits what callbacks missed. All go through the PaymentProvider port (Daraja, or
// its simulator locally, with the same client).
import * as z from 'zod';
import { darajaPhone, e164Schema, maxAccountReferenceLength, minorToWholeAmount, parsePullDate, amountToMinor, stkOutcome } from '#domain/mpesa';
import type { Db } from '#store/db';
import * as accounts from '#store/accounts';
import * as payments from '#store/payments';
import type { StkRequest } from '#store/schema';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '#shared/logger';
import { isUnavailable } from '#store/errors';
import type { Actor } from '../audit.ts';
import { audit } from '../audit.ts';
import { AccountNotFoundError, AccountStateError, AmountError } from './errors.ts';
import { resumeDeferredStkCallbacks } from './stk-results.ts';
import { creditedEvent, notifyCredited } from './payments.ts';
import type { PaymentEvents, PaymentProvider } from './ports.ts';

export interface StkDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  provider: PaymentProvider;
  currency: string;
  events?: PaymentEvents;
  /** Payments applied (GET /metrics locally, CloudWatch in the cloud). */
  metrics?: Metrics;
}

export const stkPushInput = z.strictObject({
  phone: e164Schema,
  /** Minor units; M-Pesa takes whole shillings, so a multiple of 100. */
  amountMinor: z.number().int().positive().max(150_000_00),
});

/** Ask the customer's phone to pay: the request is stored before Daraja is called, and its outcome tracked. */
export async function initiateStkPush(deps: StkDeps, accountId: string, input: z.infer<typeof stkPushInput>, actor: Actor): Promise<StkRequest> {
  const { db, now } = deps;
  const account = await accounts.findAccount(db, accountId);
  if (!account) throw new AccountNotFoundError(accountId);
  if (account.status !== 'active') throw new AccountStateError(`account ${account.account_no} is ${account.status}`);
  if (account.currency !== deps.currency) throw new AccountStateError(`account ${account.account_no} is in ${account.currency}; M-Pesa pays ${deps.currency}`);
  const amount = minorToWholeAmount(input.amountMinor);
  if (amount === null) throw new AmountError('M-Pesa takes whole shillings: amountMinor must be a multiple of 100');
  const phone = darajaPhone(input.phone);
  if (!phone) throw new AmountError('phone must be a Kenyan mobile number (+2547… or +2541…)');
  const reference = account.account_no.slice(0, maxAccountReferenceLength);
  const request = await payments.insertStkRequest(db, {
    account_id: accountId,
    phone,
    amount_minor: input.amountMinor,
    account_reference: reference,
    requested_by: actor.principal.subject,
  });
  await audit(db, actor.principal, actor.requestId, { action: 'payment.stk_push', targetType: 'account', targetId: accountId, details: { requestId: request.id, phone, amountMinor: input.amountMinor } });
  try {
    const accepted = await deps.provider.stkPush({ phone, amount, accountReference: reference, description: `Prepaid ${reference}` });
    const updated = await payments.updateStkRequest(
      db,
      request.id,
      { status: 'pending', merchantRequestId: accepted.merchantRequestId, checkoutRequestId: accepted.checkoutRequestId, resultDesc: accepted.customerMessage },
      now(),
      ['initiating'],
    );
    await resumeEarlyCallback(deps, accepted.checkoutRequestId);
    return (await payments.findStkRequest(db, request.id)) ?? updated ?? request;
  } catch (error) {
    await payments.updateStkRequest(db, request.id, { status: 'error', resultDesc: (error as Error).message.slice(0, 500), completedAt: now() }, now(), ['initiating']);
    throw error;
  }
}

/** The push's own callback may have come before its answer was stored: apply it now (the job's sweep retries). */
async function resumeEarlyCallback(deps: StkDeps, checkoutRequestId: string): Promise<void> {
  try {
    await resumeDeferredStkCallbacks(deps, { checkoutRequestId });
  } catch (error) {
    deps.logger.error('applying an STK callback that came before its push was answered failed; the stk_query job retries it', { error: error as Error, checkoutRequestId });
  }
}

/**
 * Requests pending past `afterMs` are queried. A query answers "still processing", or a result: a failure
 * is recorded (the sandbox can report failure for a paid request, so a later success callback still wins,
 * and a query never moves a request out of paid); a query that says paid has no receipt, so it is left to
 * the callback or reconciliation to credit.
 */
export async function queryPendingStk(deps: StkDeps, afterMs = 3 * 60_000, limit = 100): Promise<{ queried: number; failed: number }> {
  const { db, now } = deps;
  // Callbacks that came before their push's answer and were not applied when it was stored; a failure here
  // does not keep the pending requests from being queried.
  await resumeDeferredStkCallbacks(deps, 'sweep').catch((error: unknown) => deps.logger.error('sweeping waiting STK callbacks failed; the next run retries', { error: error as Error }));
  const pending = await payments.pendingStkRequests(db, new Date(now().getTime() - afterMs), limit);
  let failed = 0;
  for (const request of pending) {
    if (!request.checkout_request_id) continue;
    try {
      const answer = await deps.provider.stkQuery(request.checkout_request_id);
      if (answer.state === 'pending') {
        await payments.updateStkRequest(db, request.id, { lastQueriedAt: now() }, now(), ['pending']);
      } else if (answer.resultCode !== 0) {
        failed += 1;
        await payments.updateStkRequest(
          db,
          request.id,
          { status: 'failed', resultCode: String(answer.resultCode), resultDesc: `${stkOutcome(answer.resultCode)} (STK Query): ${answer.resultDesc}`, lastQueriedAt: now(), completedAt: now() },
          now(),
          ['pending'],
        );
      } else {
        await payments.updateStkRequest(db, request.id, { lastQueriedAt: now(), resultDesc: `STK Query says paid: ${answer.resultDesc}` }, now(), ['pending']);
      }
    } catch (error) {
      if (isUnavailable(error)) throw error;
      deps.logger.warn('STK query failed', { error: error as Error, stkRequestId: request.id });
    }
  }
  return { queried: pending.length, failed };
}

export interface ReconciliationReport {
  from: Date;
  to: Date;
  seen: number;
  credited: number;
  suspense: number;
  mismatches: { receipt: string; reason: string }[];
}

/**
 * Pull Transactions over [now - windowMs, now]: each receipt is recorded like a C2B confirmation (credited
 * once whichever way it came first); one we knew with another amount is reported as a mismatch.
 */
export async function reconcile(deps: StkDeps, windowMs = 2 * 3600_000): Promise<ReconciliationReport> {
  const { db, now } = deps;
  const to = now();
  const from = new Date(to.getTime() - windowMs);
  const report: ReconciliationReport = { from, to, seen: 0, credited: 0, suspense: 0, mismatches: [] };
  try {
    const rows = await deps.provider.pullTransactions(from, to);
    for (const row of rows) {
      report.seen += 1;
      const receipt = row.transactionId.toUpperCase();
      const amountMinor = amountToMinor(row.amount);
      if (amountMinor === null) {
        report.mismatches.push({ receipt, reason: `amount ${String(row.amount)} is not a payment amount` });
        continue;
      }
      const recorded = await payments.recordPayment(db, {
        provider: 'mpesa',
        receipt,
        channel: 'pull',
        amountMinor,
        currency: deps.currency,
        phone: row.msisdn ?? null,
        reference: row.billreference.trim(),
        transactedAt: parsePullDate(row.trxDate),
        raw: row,
      });
      if (!recorded.created && recorded.amountMinor !== amountMinor) {
        report.mismatches.push({ receipt, reason: `recorded with ${recorded.amountMinor}, Pull Transactions says ${amountMinor}` });
      }
      if (recorded.created && recorded.status === 'applied') {
        report.credited += 1;
        await notifyCredited(deps, creditedEvent(recorded, receipt, 'pull', now()));
      }
      if (recorded.created && recorded.status === 'suspense') report.suspense += 1;
    }
    await payments.insertReconciliation(db, {
      window_from: from,
      window_to: to,
      seen: report.seen,
      credited: report.credited,
      mismatches: JSON.stringify(report.mismatches),
      status: report.mismatches.length ? 'mismatches' : 'ok',
      error: null,
    });
    if (report.credited || report.mismatches.length) deps.logger.warn('reconciliation found what callbacks missed', { credited: report.credited, mismatches: report.mismatches.length });
    return report;
  } catch (error) {
    if (!isUnavailable(error)) {
      await payments
        .insertReconciliation(db, { window_from: from, window_to: to, seen: report.seen, credited: report.credited, mismatches: JSON.stringify(report.mismatches), status: 'failed', error: (error as Error).message.slice(0, 1000) })
        .catch(() => undefined);
    }
    throw error;
  }
}
