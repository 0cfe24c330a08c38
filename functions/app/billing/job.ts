// The scheduled billing job (and POST /billing/runs): run billing, then act on the balances it moved
// (balance control: disconnect at zero, ESP32 balances). Payments reach balance control through
// balanceControlEvents, the PaymentEvents listener.
import type { AccountCredited, PaymentEvents } from '../payments/ports.ts';
import { runBilling, type BillingOptions, type BillingResult } from './billing.ts';
import { notifyPayment } from '../notifications/notifications.ts';
import { controlAccounts, type ControlDeps, type ControlReport } from './control.ts';

export type BillingJobDeps = ControlDeps;

export async function billingJob(deps: BillingJobDeps, options: BillingOptions): Promise<BillingResult & { control?: ControlReport }> {
  const result = await runBilling(deps, { now: deps.now(), ...options });
  if (!result.balances.length) return result;
  try {
    const control = await controlAccounts(deps, result.balances.map((b) => b.accountId), { kind: 'billing', ref: result.run.id });
    return { ...result, control };
  } catch (error) {
    // The entries stand; the next run (or payment) looks again.
    deps.logger.error('balance control after billing failed', { runId: result.run.id, error: error as Error });
    return result;
  }
}

/** Reconnect (and push the ESP32 balance) when a payment credits an account; then tell `next`, if any. */
export function balanceControlEvents(deps: ControlDeps, next?: PaymentEvents): PaymentEvents {
  return {
    async accountCredited(event: AccountCredited) {
      try {
        await notifyPayment(deps, event);
        await controlAccounts(deps, [event.accountId], { kind: 'payment', ref: event.paymentId });
      } finally {
        if (next) await next.accountCredited(event);
      }
    },
  };
}
