// The scheduled billing job (and POST /billing/runs): run billing, then act on the balances it moved
// (balance control: disconnect at zero, ESP32 balances) and on the disconnects scheduled for the end of
// friendly-credit hours that are now due. Payments reach balance control through balanceControlEvents,
// the PaymentEvents listener, which first takes the account's debt-recovery share of the payment.
import type { AccountCredited, PaymentEvents } from '../payments/ports.ts';
import { runBilling, type BillingOptions, type BillingResult } from './billing.ts';
import { drainNotifications, notifyPayment } from '../notifications/notifications.ts';
import { controlAccounts, type ControlDeps, type ControlReport } from './control.ts';
import { recoverDebtFromPayment } from './policy.ts';
import { accountsWithDueDisconnects } from '#store/control-policy';

export type BillingJobDeps = ControlDeps;

export async function billingJob(deps: BillingJobDeps, options: BillingOptions): Promise<BillingResult & { control?: ControlReport; due?: ControlReport }> {
  const result = await runBilling(deps, { now: deps.now(), ...options });
  let out: BillingResult & { control?: ControlReport; due?: ControlReport } = result;
  const moved = new Set(result.balances.map((b) => b.accountId));
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
        const recovery = await recoverDebtFromPayment(deps, event);
        const balanceAfterMinor = recovery?.created && recovery.balanceAfterMinor !== null ? recovery.balanceAfterMinor : event.balanceAfterMinor;
        await notifyPayment(deps, { ...event, balanceAfterMinor });
        await controlAccounts(deps, [event.accountId], { kind: 'payment', ref: event.paymentId });
      } finally {
        if (next) await next.accountCredited(event);
      }
    },
  };
}
