// An STK Push's outcome, applied: from its callback (callbacks.ts), and for a callback that came before
// the push's answer was stored, once the request has its CheckoutRequestID (right after that answer, in
// stk.ts, and from the stk_query job's sweep). Kept apart from the HTTP handler so the payment jobs'
// function does not carry it.
import type * as z from 'zod';
import { stkCallbackSchema, stkResult } from '#domain/mpesa';
import { formatIssues } from '#domain/issues';
import type { Db } from '#store/db';
import { isUnavailable } from '#store/errors';
import * as payments from '#store/payments';
import type { Logger } from '#shared/logger';
import type { Metrics } from '../metrics.ts';
import type { PaymentEvents } from './ports.ts';
import { creditedEvent, notifyCredited } from './payments.ts';

/** Parse JSON, then the schema; a failure names what is wrong. */
export function parse<T>(schema: z.ZodType<T>, text: string): { ok: true; value: T } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, reason: formatIssues(parsed.error, '(body)', 5) };
}

/** What applying an STK result needs (the callback handler's dependencies, the STK jobs' too). */
export interface StkResultDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  currency: string;
  events?: PaymentEvents;
  metrics?: Metrics;
}

/** A waiting callback is left to the push's own resume for this long before the stk_query job's sweep takes it. */
const DEFERRED_SWEEP_AFTER_MS = 30_000;

/**
 * An STK outcome: a paid request is credited to the request's account by its receipt (once, whichever of
 * C2B, the callback or reconciliation saw it first); an amount that differs from the request is held as a
 * conflict; a failure is recorded on the request, never over a success.
 * A callback for a CheckoutRequestID we do not know while an STK Push is still waiting for Daraja's answer
 * (which carries that id) can be the answer's own callback arriving first: it stays stored ('received',
 * with its CheckoutRequestID) and is applied once the request has the id, by resumeDeferredStkCallbacks
 * (right after the answer is stored, and from the stk_query job). Without such a push started in the 5
 * minutes before it arrived, or once it has waited 5 minutes, the CheckoutRequestID is one we never issued:
 * held as a conflict. Both decided on the database's clock.
 */
export async function applyStkResult(deps: StkResultDeps, callbackId: string, result: ReturnType<typeof stkResult>, raw: unknown): Promise<'applied' | 'deferred'> {
  const { db, now } = deps;
  let request = await payments.findStkRequestByCheckout(db, result.checkoutRequestId);
  if (!request) {
    const wait = await payments.stkCallbackMayWait(db, callbackId);
    if (wait) await payments.deferCallback(db, callbackId, { checkoutRequestId: result.checkoutRequestId, receipt: result.paid?.receipt ?? null, reason: 'waiting for the STK Push answer that names this CheckoutRequestID' });
    // Looked up once more after deciding: the push's answer may have been stored between the first look and
    // the decision (no push waits any more, yet the request has the id now), or its resume may have run
    // before this callback was marked waiting. Either way one of the two applies it.
    request = await payments.findStkRequestByCheckout(db, result.checkoutRequestId);
    if (!request && wait) return 'deferred';
  }
  const settle = (o: payments.CallbackOutcome) => payments.settleCallback(db, callbackId, { checkoutRequestId: result.checkoutRequestId, ...o }, now());
  if (result.problem) {
    await settle({ outcome: 'conflict', reason: result.problem });
    if (request) await payments.updateStkRequest(db, request.id, { status: 'conflict', resultCode: String(result.resultCode), resultDesc: result.problem, completedAt: now() }, now());
    return 'applied';
  }
  if (!result.paid) {
    await settle({ outcome: request ? 'processed' : 'conflict', reason: request ? `${result.outcome}: ${result.resultDesc}` : 'a failed STK result for a CheckoutRequestID we never issued' });
    if (request) await payments.updateStkRequest(db, request.id, { status: 'failed', resultCode: String(result.resultCode), resultDesc: result.resultDesc, completedAt: now() }, now(), ['initiating', 'pending', 'error']);
    return 'applied';
  }
  const paid = result.paid;
  const holdReason = !request
    ? `STK callback for CheckoutRequestID ${result.checkoutRequestId}, which we never issued`
    : Number(request.amount_minor) !== paid.amountMinor
      ? `STK callback amount ${paid.amountMinor} differs from the request's ${request.amount_minor}`
      : null;
  const recorded = await payments.recordPayment(db, {
    provider: 'mpesa',
    receipt: paid.receipt,
    channel: 'stk',
    amountMinor: paid.amountMinor,
    currency: deps.currency,
    phone: paid.phone,
    reference: request?.account_reference ?? null,
    transactedAt: paid.transactedAt,
    raw,
    accountId: request?.account_id ?? null,
    holdReason,
  });
  if (request) {
    await payments.updateStkRequest(
      db,
      request.id,
      {
        status: recorded.status === 'conflict' ? 'conflict' : 'paid',
        resultCode: String(result.resultCode),
        resultDesc: result.resultDesc,
        receipt: paid.receipt,
        paymentId: recorded.paymentId,
        completedAt: now(),
      },
      now(),
      // A success may arrive after a query said it failed (the sandbox does that): it wins.
      ['initiating', 'pending', 'failed', 'error'],
    );
  }
  await settle({
    outcome: recorded.status === 'conflict' ? 'conflict' : recorded.created ? 'processed' : 'duplicate',
    reason: holdReason,
    receipt: paid.receipt,
    paymentId: recorded.paymentId,
  });
  if (recorded.created && recorded.status === 'applied') await notifyCredited(deps, creditedEvent(recorded, paid.receipt, 'stk', now()));
  return 'applied';
}

/**
 * STK callbacks that waited for their request (see applyStkResult), applied now: those naming one
 * CheckoutRequestID (called right after the push's answer is stored), or all that have waited more than
 * 30 seconds (the stk_query job). Applying is idempotent (the receipt is the payment's key). One that
 * cannot be applied (anything but the database being unavailable, which stops the sweep for the next run)
 * is held as a conflict with the error, so it neither blocks the others nor waits forever.
 */
export async function resumeDeferredStkCallbacks(deps: StkResultDeps, which: { checkoutRequestId: string } | 'sweep'): Promise<{ applied: number; waiting: number; held: number }> {
  const filter = which === 'sweep' ? { receivedBefore: new Date(deps.now().getTime() - DEFERRED_SWEEP_AFTER_MS) } : which;
  const tally = { applied: 0, waiting: 0, held: 0 };
  for (const callback of await payments.deferredStkCallbacks(deps.db, filter)) {
    const parsed = parse(stkCallbackSchema, callback.body);
    if (!parsed.ok) {
      await payments.settleCallback(deps.db, callback.id, { outcome: 'invalid', reason: parsed.reason }, deps.now());
      tally.held += 1;
      continue;
    }
    try {
      tally[(await applyStkResult(deps, callback.id, stkResult(parsed.value), parsed.value)) === 'applied' ? 'applied' : 'waiting'] += 1;
    } catch (error) {
      if (isUnavailable(error)) throw error;
      deps.logger.error('a waiting STK callback could not be applied; held as a conflict', { error: error as Error, callbackId: callback.id });
      const reason = `could not be applied: ${String((error as Error)?.message ?? error)}`.slice(0, 500);
      await payments.settleCallback(deps.db, callback.id, { outcome: 'conflict', reason, checkoutRequestId: parsed.value.Body.stkCallback.CheckoutRequestID }, deps.now());
      tally.held += 1;
    }
  }
  return tally;
}
