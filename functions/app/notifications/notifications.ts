// Customer notifications: balance alerts (one per crossing into a worse state, re-armed by a top-up),
// payment received, disconnected, reconnected — written to the outbox, then drained to an SMS sender with
// retries (the local sink logs them; the outbox row keeps them either way).
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import * as store from '#store/notifications';
import { alertStateOf, daysLeft, DEFAULT_CRITICAL_DAYS, DEFAULT_LOW_DAYS, renderSms, severity, type AlertState } from '#domain/alerts';

export interface SmsSender {
  /** Send one SMS; resolves with the provider's message id, throws when it was not accepted. */
  send(to: string, body: string): Promise<{ messageId: string }>;
}

/** The provider refused the message for good (a bad or blacklisted number): failed now, not retried. */
export class SmsRejectedError extends Error {
  override name = 'SmsRejectedError';
}

/** A notification is given up after this many attempts. */
export const MAX_ATTEMPTS = 5;
const RETRY_AFTER_S = 60;
/** The wait after a failed attempt: a minute, doubling with each attempt (1, 2, 4, 8 minutes). */
export const retryDelayS = (attempts: number): number => RETRY_AFTER_S * 2 ** Math.max(0, attempts - 1);

/** Move each account's alert state to what its balance says; a crossing into a worse state queues its SMS. */
export async function updateAlerts(deps: { db: Db; now: () => Date }, accountIds: readonly string[], ref: string): Promise<{ accountId: string; from: AlertState; to: AlertState }[]> {
  const moves: { accountId: string; from: AlertState; to: AlertState }[] = [];
  for (const t of await store.alertTargets(deps.db, accountIds, deps.now())) {
    const to = alertStateOf(t.balanceMinor, t.dailySpendMinor, { lowBalanceMinor: t.lowBalanceMinor, lowDays: DEFAULT_LOW_DAYS, criticalDays: DEFAULT_CRITICAL_DAYS, emergencyCreditMinor: t.emergencyCreditMinor });
    if (to === t.alertState) continue;
    const worse = severity(to) > severity(t.alertState);
    const notification: store.NewNotification | null = worse
      ? {
          accountId: t.accountId,
          recipient: t.phone,
          template: to === 'exhausted' ? 'disconnected' : 'low_balance',
          body:
            to === 'exhausted'
              ? renderSms({ template: 'disconnected', accountNo: t.accountNo, balanceMinor: t.balanceMinor, currency: t.currency })
              : renderSms({ template: 'low_balance', accountNo: t.accountNo, balanceMinor: t.balanceMinor, currency: t.currency, days: daysLeft(t.balanceMinor, t.dailySpendMinor) }),
          dedupeKey: `alert:${t.accountId}:${to}:${ref}`,
        }
      : null;
    if (await store.moveAlertState(deps.db, t.accountId, t.alertState, to, notification)) moves.push({ accountId: t.accountId, from: t.alertState, to });
  }
  return moves;
}

export async function notifyPayment(deps: { db: Db; now: () => Date }, event: { accountId: string; paymentId: string; amountMinor: number; balanceAfterMinor: number }): Promise<void> {
  const [t] = await store.alertTargets(deps.db, [event.accountId], deps.now());
  if (!t) return;
  await store.enqueueNotification(deps.db, {
    accountId: t.accountId,
    recipient: t.phone,
    template: 'payment_received',
    body: renderSms({ template: 'payment_received', accountNo: t.accountNo, amountMinor: event.amountMinor, balanceMinor: event.balanceAfterMinor, currency: t.currency }),
    dedupeKey: `payment:${event.paymentId}`,
  });
}

export async function notifyReconnected(deps: { db: Db; now: () => Date }, accountId: string, key: string): Promise<void> {
  const [t] = await store.alertTargets(deps.db, [accountId], deps.now());
  if (!t) return;
  await store.enqueueNotification(deps.db, {
    accountId,
    recipient: t.phone,
    template: 'reconnected',
    body: renderSms({ template: 'reconnected', accountNo: t.accountNo, balanceMinor: t.balanceMinor, currency: t.currency }),
    dedupeKey: `reconnected:${key}`,
  });
}

/** Send what is due; a failure is retried with back-off (retryDelayS), up to MAX_ATTEMPTS; a rejection is failed at once. */
export async function drainNotifications(deps: { db: Db; logger: Logger; now: () => Date; sms: SmsSender }, limit = 100): Promise<{ sent: number; failed: number }> {
  let sent = 0;
  let failed = 0;
  for (const n of await store.claimDue(deps.db, deps.now(), limit, RETRY_AFTER_S)) {
    if (!n.recipient) {
      await store.markNotification(deps.db, n.id, { status: 'undeliverable', error: 'the customer has no phone number' });
      failed++;
      continue;
    }
    try {
      const { messageId } = await deps.sms.send(n.recipient, n.body);
      await store.markNotification(deps.db, n.id, { status: 'sent', providerMessageId: messageId });
      sent++;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const final = n.attempts >= MAX_ATTEMPTS || error instanceof SmsRejectedError;
      await store.markNotification(deps.db, n.id, final ? { status: 'failed', error: message } : { status: 'pending', error: message, retryAt: new Date(deps.now().getTime() + retryDelayS(n.attempts) * 1000) });
      deps.logger.warn('SMS not sent', { notificationId: n.id, attempts: n.attempts, error: message });
      failed++;
    }
  }
  return { sent, failed };
}
