// The scheduled billing job (and POST /billing/runs): run billing, then act on the balances it moved
// (balance control: disconnect at zero, ESP32 balances) and on the disconnects scheduled for the end of
// friendly-credit hours that are now due; first it takes the debt recovery a failed payment listener
// missed (catchUpDebtRecovery). Payments (and admin credits) reach balance control through balanceControlEvents,
// the PaymentEvents listener, which first takes the account's debt-recovery share of the payment.
import type { AccountAdjusted, AccountCredited, PaymentEvents } from '../payments/ports.ts';
import { runBilling, type BillingOptions, type BillingResult } from './billing.ts';
import { drainNotifications, notifyPayment } from '../notifications/notifications.ts';
import { controlAccounts, type ControlDeps, type ControlReport } from './control.ts';
import { catchUpDebtRecovery, policiesOf, recoverDebtFromPayment } from './policy.ts';
import { accountsWithDueDisconnects } from '#store/control-policy';

export type BillingJobDeps = ControlDeps;

export type BillingJobResult = BillingResult & { control?: ControlReport; due?: ControlReport; recovered?: { accountId: string; paymentId: string; recoveredMinor: number }[] };

export async function billingJob(deps: BillingJobDeps, options: BillingOptions): Promise<BillingJobResult> {
  const result = await runBilling(deps, { now: deps.now(), ...options });
  let out: BillingJobResult = result;
  const moved = new Set(result.balances.map((b) => b.accountId));
  try {
    // Debt recovery a failed payment listener missed: those balances moved too.
    const recovered = await catchUpDebtRecovery(deps);
    if (recovered.length) out = { ...out, recovered };
    for (const r of recovered) moved.add(r.accountId);
  } catch (error) {
    deps.logger.error('debt recovery catch-up failed', { runId: result.run.id, error: error as Error });
  }
  try {
    if (moved.size) out = { ...out, control: await controlAccounts(deps, [...moved], { kind: 'billing', ref: result.run.id }) };
    // Friendly-credit hours that have ended: their disconnects are issued now (unless the balance recovered).
    const due = (await accountsWithDueDisconnects(deps.db, deps.now())).filter((id) => !moved.has(id));
    if (due.length) out = { ...out, due: await controlAccounts(deps, due, { kind: 'schedule', ref: result.run.id }) };
  } catch (error) {
    // The entries stand; the next run (or payment) looks again.
    deps.logger.error('balance control after billing failed', { runId: result.run.id, error: error as Error });
  }
  // Every run also sends what the outbox holds that is now due (warnings held through quiet hours
  // included), even when it moved no balance.
  if (deps.sms) await drainNotifications({ ...deps, sms: deps.sms }).catch((error: unknown) => deps.logger.error('notification drain failed', { error: error as Error }));
  return out;
}

/** Reconnect (and push the ESP32 balance) when a payment credits an account; then tell `next`, if any. */
export function balanceControlEvents(deps: ControlDeps, next?: PaymentEvents): PaymentEvents {
  return {
    async accountCredited(event: AccountCredited) {
      try {
        // The arrears' share first: the SMS and the reconnect decision see the balance after it.
        const policies = await policiesOf(deps, [event.accountId]);
        const recovery = await recoverDebtFromPayment(deps, event, policies);
        // Taken by an earlier delivery, or by the billing job's catch-up: the payment's balance less its share.
        const balanceAfterMinor =
          recovery?.created && recovery.balanceAfterMinor !== null ? recovery.balanceAfterMinor : event.balanceAfterMinor - (recovery?.recoveredMinor ?? 0);
        await notifyPayment(deps, { ...event, balanceAfterMinor });
        // A recovery moved the arrears the policies hold: balance control reads them again; otherwise
        // the ones just read stand (one read less on every payment).
        await controlAccounts(deps, [event.accountId], { kind: 'payment', ref: event.paymentId }, recovery?.created ? undefined : policies);
      } finally {
        if (next) await next.accountCredited(event);
      }
    },
    // A credit an admin posts is a top-up: it re-arms the warnings and reconnects like a payment, without
    // the payment SMS and without debt recovery (an adjustment is not a payment; debt_recover takes only
    // from payments). A debit waits for the next billing run.
    async accountAdjusted(event: AccountAdjusted) {
      try {
        if (event.amountMinor > 0) await controlAccounts(deps, [event.accountId], { kind: 'adjustment', ref: String(event.entryId) });
      } finally {
        if (next?.accountAdjusted) await next.accountAdjusted(event);
      }
    },
  };
}
