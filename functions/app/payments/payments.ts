// Customers, accounts and their money: create and look up customers and accounts, link meters to an
// account (history kept), balances and statements, admin adjustments and reversals, allocating a suspense
// payment and reversing a payment. Every change is audited in the transaction that makes it; every
// posting is one call of the ledger's SQL function.
import * as z from 'zod';
import { e164Schema } from '#domain/mpesa';
import { inTransaction, type Db } from '#store/db';
import * as accounts from '#store/accounts';
import * as ledger from '#store/ledger';
import * as payments from '#store/payments';
import { alertTargets } from '#store/notifications';
import { daysLeft } from '#domain/alerts';
import { setAccountPolicy } from '#store/control-policy';
import type { Account, Customer, Payment } from '#store/schema';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '#shared/logger';
import { audit, type Actor } from '../audit.ts';
import { MeterNotFoundError } from '../registry/errors.ts';
import { AccountNotFoundError, CustomerNotFoundError, PaymentNotFoundError } from './errors.ts';
import type { AccountCredited, PaymentEvents } from './ports.ts';

// ---- Inputs ----

export const customerInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  phone: e164Schema.optional(),
  email: z.string().trim().email().max(254).optional(),
  siteId: z.string().uuid().optional(),
  externalRef: z.string().trim().min(1).max(100).optional(),
});
export type CustomerInput = z.infer<typeof customerInput>;

/**
 * What customers type as the M-Pesa account number: letters, digits and dashes, 2-12 (STK Push's
 * AccountReference holds 12, and it is what Pull Transactions reports back), any case, stored upper case.
 */
export const accountNoSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9-]{1,11}$/, 'letters, digits and - (2-12), starting with a letter or digit');

export const accountInput = z.strictObject({
  customerId: z.string().uuid(),
  accountNo: accountNoSchema,
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code').default('KES'),
  status: z.enum(['active', 'suspended', 'closed']).default('active'),
  lowBalanceThresholdMinor: z.number().int().min(0).max(1e12).default(0),
});
export type AccountInput = z.infer<typeof accountInput>;

export const adjustmentInput = z.strictObject({
  amountMinor: z.number().int().min(-1e12).max(1e12).refine((v) => v !== 0, 'must not be zero'),
  reason: z.string().trim().min(3).max(500),
  /** The caller's key: the same key posts once. */
  idempotencyKey: z.string().trim().min(8).max(200),
});

export const reversalInput = z.strictObject({ entryId: z.number().int().positive(), reason: z.string().trim().min(3).max(500) });

// ---- Events ----

export function creditedEvent(r: payments.RecordedPayment, receipt: string, channel: AccountCredited['channel'], at: Date): AccountCredited {
  return { accountId: r.accountId ?? '', paymentId: r.paymentId, receipt, channel, amountMinor: r.amountMinor, balanceAfterMinor: r.balanceAfterMinor ?? 0, at };
}

export async function notifyCredited(deps: { logger: Logger; events?: PaymentEvents; metrics?: Metrics }, event: AccountCredited): Promise<void> {
  deps.metrics?.count('payments_applied', 1, event.channel);
  if (!deps.events) return;
  try {
    await deps.events.accountCredited(event);
  } catch (error) {
    deps.logger.error('account credited listener failed; the credit stands', { error: error as Error, accountId: event.accountId, paymentId: event.paymentId });
  }
}

// ---- Customers ----

export async function createCustomer(db: Db, input: CustomerInput, actor: Actor): Promise<Customer> {
  return inTransaction(db, 'customer', async (trx) => {
    const customer = await accounts.insertCustomer(trx, {
      name: input.name,
      phone: input.phone ?? null,
      email: input.email ?? null,
      site_id: input.siteId ?? null,
      external_ref: input.externalRef ?? null,
    });
    await audit(trx, actor.principal, actor.requestId, { action: 'customer.create', targetType: 'customer', targetId: customer.id, details: input });
    return customer;
  });
}

export async function getCustomer(db: Db, id: string): Promise<Customer> {
  const customer = await accounts.findCustomer(db, id);
  if (!customer) throw new CustomerNotFoundError(id);
  return customer;
}

// ---- Accounts ----

export async function createAccount(db: Db, input: AccountInput, actor: Actor): Promise<Account> {
  return inTransaction(db, `account ${input.accountNo}`, async (trx) => {
    if (!(await accounts.findCustomer(trx, input.customerId))) throw new CustomerNotFoundError(input.customerId);
    const account = await accounts.insertAccount(trx, {
      customer_id: input.customerId,
      account_no: input.accountNo.toUpperCase(),
      currency: input.currency,
      status: input.status,
      low_balance_threshold_minor: input.lowBalanceThresholdMinor,
    });
    // The control policy reads the account's overrides (schema/0014): a threshold given here is one.
    if (input.lowBalanceThresholdMinor > 0) await setAccountPolicy(trx, account.id, { lowBalanceMinor: input.lowBalanceThresholdMinor }, actor.principal.subject);
    await audit(trx, actor.principal, actor.requestId, { action: 'account.create', targetType: 'account', targetId: account.id, details: input });
    return account;
  });
}

export async function getAccount(db: Db, id: string): Promise<Account> {
  const account = await accounts.findAccount(db, id);
  if (!account) throw new AccountNotFoundError(id);
  return account;
}

/**
 * An account with its last payment, its meters and its forecast: the average daily spend over the last
 * 14 days (the alerts' own measure) and the days of credit that leaves (null when nothing was spent).
 */
export async function accountSummary(db: Db, id: string, now: Date) {
  const account = await getAccount(db, id);
  const [lastPayment, meters, [target]] = await Promise.all([payments.lastPaymentOf(db, id), accounts.currentMetersOf(db, id), alertTargets(db, [id], now)]);
  const dailySpendMinor = Math.round(target?.dailySpendMinor ?? 0);
  const days = daysLeft(Number(account.balance_minor), target?.dailySpendMinor ?? 0);
  return { account, lastPayment: lastPayment ?? null, meters, forecast: { dailySpendMinor, daysLeft: days === undefined ? null : Math.floor(days * 10) / 10, basisDays: 14 } };
}

export async function setAccountStatus(db: Db, id: string, status: Account['status'], actor: Actor, now: Date): Promise<Account> {
  return inTransaction(db, 'account', async (trx) => {
    const before = await accounts.findAccount(trx, id);
    if (!before) throw new AccountNotFoundError(id);
    const account = await accounts.updateAccountStatus(trx, id, status, now);
    await audit(trx, actor.principal, actor.requestId, { action: 'account.status', targetType: 'account', targetId: id, details: { from: before.status, to: status } });
    return account ?? before;
  });
}

/** Make the account the meter's (closing its previous link), or unlink it (accountId null). */
export async function linkMeter(db: Db, meterId: string, accountId: string | null, actor: Actor, now: Date): Promise<void> {
  await inTransaction(db, 'meter link', async (trx) => {
    const meter = await accounts.lockMeter(trx, meterId);
    if (!meter) throw new MeterNotFoundError(meterId);
    if (accountId && !(await accounts.findAccount(trx, accountId))) throw new AccountNotFoundError(accountId);
    const previous = await accounts.currentAccountOfMeter(trx, meterId);
    if (previous === accountId) return;
    await accounts.linkMeter(trx, meterId, accountId, now);
    await audit(trx, actor.principal, actor.requestId, {
      action: accountId ? 'meter.link_account' : 'meter.unlink_account',
      targetType: 'meter',
      targetId: meterId,
      details: { accountId, previousAccountId: previous },
    });
  });
}

// ---- Statements ----

export interface StatementLine {
  entryId: number;
  at: Date;
  entryType: string;
  amountMinor: number;
  balanceAfterMinor: number;
  description: string | null;
  paymentId: string | null;
  reversesEntryId: number | null;
  reason: string | null;
  sourceRef: string | null;
}

export async function accountStatement(db: Db, id: string, filter: ledger.StatementFilter) {
  const account = await getAccount(db, id);
  const { openingBalanceMinor, entries } = await ledger.statement(db, id, filter);
  const lines: StatementLine[] = entries.map((e) => ({
    entryId: Number(e.id),
    at: e.created_at,
    entryType: e.entry_type,
    amountMinor: Number(e.amount_minor),
    balanceAfterMinor: Number(e.balance_after_minor),
    description: e.description,
    paymentId: e.payment_id,
    reversesEntryId: e.reverses_entry_id === null ? null : Number(e.reverses_entry_id),
    reason: e.reason,
    sourceRef: e.source_ref,
  }));
  const closing = lines.at(-1)?.balanceAfterMinor ?? openingBalanceMinor;
  return { account, openingBalanceMinor, closingBalanceMinor: closing, lines };
}

// ---- Admin postings ----

/**
 * An admin's adjustment. Once committed (and not a repeat of its key), the events' listener is told, as
 * for a payment: balance control treats a credit as a top-up. A listener that fails is logged; the entry stands.
 */
export async function adjust(deps: { db: Db; logger: Logger; now: () => Date; events?: PaymentEvents | undefined }, accountId: string, input: z.infer<typeof adjustmentInput>, actor: Actor): Promise<ledger.PostingResult> {
  const result = await inTransaction(deps.db, 'adjustment', async (trx) => {
    if (!(await accounts.findAccount(trx, accountId))) throw new AccountNotFoundError(accountId);
    const r = await ledger.post(trx, {
      accountId,
      entryType: 'adjustment',
      amountMinor: input.amountMinor,
      idempotencyKey: `adjustment:${input.idempotencyKey}`,
      reason: input.reason,
      createdBy: actor.principal.subject,
    });
    if (r.created) await audit(trx, actor.principal, actor.requestId, { action: 'ledger.adjust', targetType: 'account', targetId: accountId, details: { ...input, entryId: r.entryId } });
    return r;
  });
  if (result.created && deps.events?.accountAdjusted) {
    try {
      await deps.events.accountAdjusted({ accountId, entryId: result.entryId, amountMinor: input.amountMinor, balanceAfterMinor: result.balanceAfterMinor, at: deps.now() });
    } catch (error) {
      deps.logger.error('account adjusted listener failed; the adjustment stands', { error: error as Error, accountId, entryId: result.entryId });
    }
  }
  return result;
}

export async function reverseEntry(db: Db, accountId: string, input: z.infer<typeof reversalInput>, actor: Actor): Promise<ledger.PostingResult> {
  return inTransaction(db, 'reversal', async (trx) => {
    const entry = await ledger.findEntry(trx, input.entryId);
    if (!entry || entry.account_id !== accountId) throw new AccountNotFoundError(`${accountId} (entry ${input.entryId})`);
    const result = entry.payment_id
      ? await payments.reversePayment(trx, entry.payment_id, input.reason, actor.principal.subject)
      : await ledger.post(trx, {
          accountId,
          entryType: 'reversal',
          amountMinor: -Number(entry.amount_minor),
          idempotencyKey: `reversal:${entry.id}`,
          reversesEntryId: Number(entry.id),
          reason: input.reason,
          createdBy: actor.principal.subject,
        });
    if (result.created) await audit(trx, actor.principal, actor.requestId, { action: 'ledger.reverse', targetType: 'account', targetId: accountId, details: { ...input, reversalEntryId: result.entryId } });
    return result;
  });
}

// ---- Payments ----

export async function getPayment(db: Db, id: string): Promise<Payment> {
  const payment = await payments.findPayment(db, id);
  if (!payment) throw new PaymentNotFoundError(id);
  return payment;
}

export async function allocate(deps: { db: Db; logger: Logger; now: () => Date; events?: PaymentEvents }, paymentId: string, accountId: string, actor: Actor) {
  const result = await inTransaction(deps.db, 'payment allocation', async (trx) => {
    const r = await payments.allocatePayment(trx, paymentId, accountId, actor.principal.subject);
    if (r.created) await audit(trx, actor.principal, actor.requestId, { action: 'payment.allocate', targetType: 'payment', targetId: paymentId, details: { accountId } });
    return r;
  });
  const payment = await getPayment(deps.db, paymentId);
  if (result.created) {
    await notifyCredited(deps, {
      accountId,
      paymentId,
      receipt: payment.provider_transaction_id,
      channel: payment.channel,
      amountMinor: Number(payment.amount_minor),
      balanceAfterMinor: result.balanceAfterMinor,
      at: deps.now(),
    });
  }
  return { payment, balanceAfterMinor: result.balanceAfterMinor, created: result.created };
}

export async function reverse(db: Db, paymentId: string, reason: string, actor: Actor) {
  const result = await inTransaction(db, 'payment reversal', async (trx) => {
    const r = await payments.reversePayment(trx, paymentId, reason, actor.principal.subject);
    if (r.created) await audit(trx, actor.principal, actor.requestId, { action: 'payment.reverse', targetType: 'payment', targetId: paymentId, details: { reason, entryId: r.entryId } });
    return r;
  });
  return { payment: await getPayment(db, paymentId), ...result };
}

/** The invariants, as the admin endpoint and the tests read them. */
export async function checkInvariants(db: Db) {
  const violations = await ledger.invariantViolations(db);
  return { ok: violations.length === 0, violations };
}
