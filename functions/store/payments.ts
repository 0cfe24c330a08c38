// The payments' store: a payment heard of is recorded and credited in one call (payment_record), a
// suspense payment allocated (payment_allocate), an applied one reversed (payment_reverse); the raw
// Daraja callbacks, the STK Push requests and the reconciliation runs.
import { sql, type Insertable } from 'kysely';
import { json, type Executor } from './db.ts';
import { mapDbError } from './errors.ts';
import type {
  DarajaCallback,
  DarajaCallbackKind,
  DarajaCallbackOutcome,
  DarajaReconciliationsTable,
  Payment,
  PaymentChannel,
  PaymentStatus,
  StkRequest,
  StkRequestsTable,
  StkStatus,
} from './schema.ts';

export interface PaymentInput {
  provider: 'mpesa' | 'manual';
  /** The provider's receipt (M-Pesa TransID = MpesaReceiptNumber): the payment's unique key. */
  receipt: string;
  channel: PaymentChannel;
  amountMinor: number;
  currency: string;
  phone: string | null;
  reference: string | null;
  transactedAt: Date | null;
  raw: unknown;
  /** Credit this account instead of the one the reference names (an STK request's account). */
  accountId?: string | null;
  /** Hold the payment as a conflict for review, with this reason, instead of crediting it. */
  holdReason?: string | null;
}

export interface RecordedPayment {
  paymentId: string;
  status: PaymentStatus;
  accountId: string | null;
  balanceAfterMinor: number | null;
  /** false when the receipt was already known: nothing was credited by this call. */
  created: boolean;
  /** The amount as first recorded (a repeat with another amount is a mismatch for the caller to report). */
  amountMinor: number;
}

interface RecordRow {
  out_payment_id: string;
  out_status: PaymentStatus;
  out_account_id: string | null;
  out_balance_after_minor: number | null;
  out_created: boolean;
  out_amount_minor: number;
}

/** payment_record's answer (also inside daraja_callback_record's) as a RecordedPayment. */
const recordedPayment = (row: RecordRow): RecordedPayment => ({
  paymentId: row.out_payment_id,
  status: row.out_status,
  accountId: row.out_account_id,
  balanceAfterMinor: row.out_balance_after_minor === null ? null : Number(row.out_balance_after_minor),
  created: row.out_created,
  amountMinor: Number(row.out_amount_minor),
});

/** Record a payment once by its receipt, crediting it (or leaving it in suspense, or holding it). */
export async function recordPayment(db: Executor, p: PaymentInput): Promise<RecordedPayment> {
  try {
    const { rows } = await sql<RecordRow>`
      SELECT * FROM payment_record(
        CAST(${p.provider} AS text), CAST(${p.receipt} AS text), CAST(${p.channel} AS text), CAST(${p.amountMinor} AS bigint),
        CAST(${p.currency} AS text), CAST(${p.phone} AS text), CAST(${p.reference} AS text),
        CAST(${p.transactedAt?.toISOString() ?? null} AS timestamptz), ${json(p.raw ?? null)},
        CAST(${p.accountId ?? null} AS uuid), CAST(${p.holdReason ?? null} AS text))`.execute(db);
    const row = rows[0];
    if (!row) throw new Error('payment_record returned no row');
    return recordedPayment(row);
  } catch (error) {
    throw mapDbError(error, 'payment');
  }
}

export async function allocatePayment(db: Executor, paymentId: string, accountId: string, actor: string): Promise<{ balanceAfterMinor: number; created: boolean }> {
  try {
    const { rows } = await sql<{ out_balance_after_minor: number; out_created: boolean }>`
      SELECT * FROM payment_allocate(CAST(${paymentId} AS uuid), CAST(${accountId} AS uuid), CAST(${actor} AS text))`.execute(db);
    const row = rows[0];
    if (!row) throw new Error('payment_allocate returned no row');
    return { balanceAfterMinor: Number(row.out_balance_after_minor), created: row.out_created };
  } catch (error) {
    throw mapDbError(error, 'payment allocation');
  }
}

export async function reversePayment(db: Executor, paymentId: string, reason: string, actor: string): Promise<{ entryId: number; balanceAfterMinor: number; created: boolean }> {
  try {
    const { rows } = await sql<{ out_entry_id: number; out_balance_after_minor: number; out_created: boolean }>`
      SELECT * FROM payment_reverse(CAST(${paymentId} AS uuid), CAST(${reason} AS text), CAST(${actor} AS text))`.execute(db);
    const row = rows[0];
    if (!row) throw new Error('payment_reverse returned no row');
    return { entryId: Number(row.out_entry_id), balanceAfterMinor: Number(row.out_balance_after_minor), created: row.out_created };
  } catch (error) {
    throw mapDbError(error, 'payment reversal');
  }
}

export async function findPayment(db: Executor, id: string): Promise<Payment | undefined> {
  return db.selectFrom('payments').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findPaymentByReceipt(db: Executor, provider: 'mpesa' | 'manual', receipt: string): Promise<Payment | undefined> {
  return db.selectFrom('payments').selectAll().where('provider', '=', provider).where('provider_transaction_id', '=', receipt).executeTakeFirst();
}

export interface PaymentFilter {
  status?: PaymentStatus;
  accountId?: string;
  receipt?: string;
  from?: Date;
  to?: Date;
  limit: number;
  offset: number;
}

/** Payments newest first, filtered: one page and how many the filter matches in all. */
export async function listPayments(db: Executor, f: PaymentFilter): Promise<{ items: Payment[]; total: number }> {
  let query = db.selectFrom('payments');
  if (f.status) query = query.where('status', '=', f.status);
  if (f.accountId) query = query.where('account_id', '=', f.accountId);
  if (f.receipt) query = query.where('provider_transaction_id', '=', f.receipt);
  if (f.from) query = query.where('received_at', '>=', f.from);
  if (f.to) query = query.where('received_at', '<', f.to);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('received_at', 'desc').orderBy('id').limit(f.limit).offset(f.offset).execute(),
    query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
  ]);
  return { items, total: Number(count?.n ?? 0) };
}

export async function lastPaymentOf(db: Executor, accountId: string): Promise<Payment | undefined> {
  return db
    .selectFrom('payments')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('status', 'in', ['applied', 'reversed'])
    .orderBy('applied_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

// ---- Raw callbacks ----

export interface CallbackRow {
  kind: DarajaCallbackKind;
  body: string;
  sourceIp: string | null;
  outcome?: DarajaCallbackOutcome;
  reason?: string | null;
  receipt?: string | null;
  checkoutRequestId?: string | null;
  /** Set when the row is stored already settled (its outcome decided with it). */
  processedAt?: Date | null;
}

/** Store a callback as it came, before anything else is done with it (or settled with its outcome at once). */
export async function insertCallback(db: Executor, row: CallbackRow): Promise<string> {
  const inserted = await db
    .insertInto('daraja_callbacks')
    .values({
      kind: row.kind,
      body: row.body,
      source_ip: row.sourceIp,
      outcome: row.outcome ?? 'received',
      reason: row.reason ?? null,
      receipt: row.receipt ?? null,
      checkout_request_id: row.checkoutRequestId ?? null,
      processed_at: row.processedAt ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return inserted.id;
}

export interface CallbackOutcome {
  outcome: DarajaCallbackOutcome;
  reason?: string | null;
  receipt?: string | null;
  checkoutRequestId?: string | null;
  paymentId?: string | null;
}

export async function settleCallback(db: Executor, id: string, o: CallbackOutcome, at: Date): Promise<void> {
  // Only a callback still 'received': of two concurrent applications of a waiting STK callback, the first
  // to settle it says what happened (both name the same payment, the receipt being its key).
  await db
    .updateTable('daraja_callbacks')
    .set({
      outcome: o.outcome,
      reason: o.reason ?? null,
      receipt: o.receipt ?? null,
      checkout_request_id: o.checkoutRequestId ?? null,
      payment_id: o.paymentId ?? null,
      processed_at: at,
    })
    .where('id', '=', id)
    .where('outcome', '=', 'received')
    .execute();
}

export interface CallbackPaymentInput extends Omit<PaymentInput, 'accountId' | 'holdReason'> {
  /** The C2B confirmation's body as it came (made storable). */
  body: string;
  sourceIp: string | null;
  at: Date;
}

/** What daraja_callback_record did: the callback's outcome, and the payment, or why it was not processed. */
export type RecordedCallback =
  | { ok: true; callbackId: string; outcome: DarajaCallbackOutcome; payment: RecordedPayment }
  | { ok: false; callbackId: string; outcome: 'received'; error: unknown };

interface CallbackRecordRow extends RecordRow {
  out_callback_id: string;
  out_outcome: DarajaCallbackOutcome;
  out_error_state: string | null;
  out_error: string | null;
}

/**
 * A C2B confirmation in one call (daraja_callback_record): stored raw, the payment
 * recorded and credited once by its receipt (payment_record), the callback settled. When payment_record
 * refuses, the raw callback is still stored ('received', the error as its reason) and `error` is what it
 * raised, mapped like any database error (the caller throws it: Daraja gets no 2xx and retries).
 */
export async function recordCallbackPayment(db: Executor, c: CallbackPaymentInput): Promise<RecordedCallback> {
  try {
    const { rows } = await sql<CallbackRecordRow>`
      SELECT * FROM daraja_callback_record(
        CAST(${c.body} AS text), CAST(${c.sourceIp} AS text), CAST(${c.at.toISOString()} AS timestamptz),
        CAST(${c.provider} AS text), CAST(${c.receipt} AS text), CAST(${c.channel} AS text), CAST(${c.amountMinor} AS bigint),
        CAST(${c.currency} AS text), CAST(${c.phone} AS text), CAST(${c.reference} AS text),
        CAST(${c.transactedAt?.toISOString() ?? null} AS timestamptz), ${json(c.raw ?? null)})`.execute(db);
    const row = rows[0];
    if (!row) throw new Error('daraja_callback_record returned no row');
    if (row.out_error_state !== null) {
      // What payment_record raised, mapped as if it had been raised to us (the raw callback is stored).
      const refused = Object.assign(new Error(row.out_error ?? 'payment_record failed'), { code: row.out_error_state });
      return { ok: false, callbackId: row.out_callback_id, outcome: 'received', error: mapDbError(refused, 'payment') };
    }
    return {
      ok: true,
      callbackId: row.out_callback_id,
      outcome: row.out_outcome,
      payment: recordedPayment(row),
    };
  } catch (error) {
    throw mapDbError(error, 'payment');
  }
}

/**
 * A C2B validation in one indexed statement: the account its reference names (account_for_reference: the
 * account number's index, else the meter number's and the meter's current link), and the callback stored
 * with the answer. Rejected when no account or meter has the reference, or the account is closed.
 */
export async function recordValidation(
  db: Executor,
  v: { body: string; sourceIp: string | null; reference: string | null; receipt: string; at: Date },
): Promise<{ outcome: 'accepted' | 'rejected'; reason: string | null }> {
  const { rows } = await sql<{ outcome: 'accepted' | 'rejected'; reason: string | null }>`
    INSERT INTO daraja_callbacks (kind, body, source_ip, receipt, outcome, reason, processed_at)
    SELECT 'c2b_validation', CAST(${v.body} AS text), CAST(${v.sourceIp} AS text), CAST(${v.receipt} AS text),
      CASE WHEN a.status IS NULL OR a.status = 'closed' THEN 'rejected' ELSE 'accepted' END,
      CASE WHEN a.status IS NULL THEN 'no account or meter has the reference "' || COALESCE(CAST(${v.reference} AS text), '') || '"'
           WHEN a.status = 'closed' THEN 'account ' || a.account_no || ' is closed' END,
      CAST(${v.at.toISOString()} AS timestamptz)
    FROM (SELECT CASE WHEN CAST(${v.reference} AS text) <> '' THEN account_for_reference(CAST(${v.reference} AS text)) END AS id) ref
    LEFT JOIN accounts a ON a.id = ref.id
    RETURNING outcome, reason`.execute(db);
  const row = rows[0];
  if (!row) throw new Error('the validation was not stored');
  return row;
}

/** Raw Daraja callbacks newest first, by outcome: one page and how many the filter matches in all. */
export async function listCallbacks(db: Executor, filter: { outcome?: DarajaCallbackOutcome; limit: number; offset: number }): Promise<{ items: DarajaCallback[]; total: number }> {
  let query = db.selectFrom('daraja_callbacks');
  if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('received_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute(),
    query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
  ]);
  return { items, total: Number(count?.n ?? 0) };
}

// ---- STK Push requests ----

export async function insertStkRequest(db: Executor, row: Insertable<StkRequestsTable>): Promise<StkRequest> {
  return db.insertInto('stk_requests').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findStkRequest(db: Executor, id: string): Promise<StkRequest | undefined> {
  return db.selectFrom('stk_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findStkRequestByCheckout(db: Executor, checkoutRequestId: string): Promise<StkRequest | undefined> {
  return db.selectFrom('stk_requests').selectAll().where('checkout_request_id', '=', checkoutRequestId).executeTakeFirst();
}

export interface StkUpdate {
  status?: StkStatus;
  merchantRequestId?: string | null;
  checkoutRequestId?: string | null;
  resultCode?: string | null;
  resultDesc?: string | null;
  receipt?: string | null;
  paymentId?: string | null;
  lastQueriedAt?: Date;
  completedAt?: Date | null;
}

/**
 * Update a request, but never out of a final state: once paid (or held as a conflict), a later query or
 * callback saying otherwise changes nothing. `onlyFrom` restricts the states it may move from.
 */
export async function updateStkRequest(db: Executor, id: string, u: StkUpdate, at: Date, onlyFrom: StkStatus[] = ['initiating', 'pending', 'failed', 'error']): Promise<StkRequest | undefined> {
  return db
    .updateTable('stk_requests')
    .set({
      ...(u.status !== undefined ? { status: u.status } : {}),
      ...(u.merchantRequestId !== undefined ? { merchant_request_id: u.merchantRequestId } : {}),
      ...(u.checkoutRequestId !== undefined ? { checkout_request_id: u.checkoutRequestId } : {}),
      ...(u.resultCode !== undefined ? { result_code: u.resultCode } : {}),
      ...(u.resultDesc !== undefined ? { result_desc: u.resultDesc } : {}),
      ...(u.receipt !== undefined ? { receipt: u.receipt } : {}),
      ...(u.paymentId !== undefined ? { payment_id: u.paymentId } : {}),
      ...(u.lastQueriedAt !== undefined ? { last_queried_at: u.lastQueriedAt } : {}),
      ...(u.completedAt !== undefined ? { completed_at: u.completedAt } : {}),
      updated_at: at,
    })
    .where('id', '=', id)
    .where('status', 'in', onlyFrom)
    .returningAll()
    .executeTakeFirst();
}

/**
 * May the STK callback stored as `callbackId` wait for its request? Yes while it arrived less than 5 minutes
 * ago and an STK Push started in the 5 minutes before it arrived still awaits Daraja's answer (which carries
 * the CheckoutRequestID). On the database's clock: the callback's received_at and the push's created_at are
 * both its now().
 */
export async function stkCallbackMayWait(db: Executor, callbackId: string): Promise<boolean> {
  const { rows } = await sql<{ wait: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM daraja_callbacks c
      JOIN stk_requests p ON p.status = 'initiating' AND p.created_at <= c.received_at AND p.created_at >= c.received_at - interval '5 minutes'
      WHERE c.id = CAST(${callbackId} AS uuid) AND c.received_at > now() - interval '5 minutes'
    ) AS wait`.execute(db);
  return rows[0]?.wait === true;
}

/** An STK callback left waiting for its request: still 'received', with its CheckoutRequestID, receipt and why. */
export async function deferCallback(db: Executor, id: string, o: { checkoutRequestId: string; receipt: string | null; reason: string }): Promise<void> {
  await db
    .updateTable('daraja_callbacks')
    .set({ checkout_request_id: o.checkoutRequestId, receipt: o.receipt, reason: o.reason })
    .where('id', '=', id)
    .where('outcome', '=', 'received')
    .execute();
}

/** STK callbacks left waiting for their request, oldest first: those for one CheckoutRequestID, or all received before a time. */
export async function deferredStkCallbacks(db: Executor, f: { checkoutRequestId: string } | { receivedBefore: Date }, limit = 100): Promise<DarajaCallback[]> {
  let query = db.selectFrom('daraja_callbacks').selectAll().where('kind', '=', 'stk_callback').where('outcome', '=', 'received').where('checkout_request_id', 'is not', null);
  query = 'checkoutRequestId' in f ? query.where('checkout_request_id', '=', f.checkoutRequestId) : query.where('received_at', '<', f.receivedBefore);
  return query.orderBy('received_at').limit(limit).execute();
}

/** Requests still waiting for their outcome, created before `olderThan` (the STK Query job's work). */
export async function pendingStkRequests(db: Executor, olderThan: Date, limit: number): Promise<StkRequest[]> {
  return db
    .selectFrom('stk_requests')
    .selectAll()
    .where('status', 'in', ['pending'])
    .where('created_at', '<', olderThan)
    .where('checkout_request_id', 'is not', null)
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

export async function listStkRequests(db: Executor, accountId: string, limit: number): Promise<StkRequest[]> {
  return db.selectFrom('stk_requests').selectAll().where('account_id', '=', accountId).orderBy('created_at', 'desc').limit(limit).execute();
}

// ---- Reconciliation runs ----

export async function insertReconciliation(db: Executor, row: Insertable<DarajaReconciliationsTable>): Promise<void> {
  await db.insertInto('daraja_reconciliations').values(row).execute();
}

export async function listReconciliations(db: Executor, limit: number) {
  return db.selectFrom('daraja_reconciliations').selectAll().orderBy('created_at', 'desc').limit(limit).execute();
}
