// Customer notifications: balance warnings (one per rung climbed on the account's warning ladder: 7, 3 and
// 1 days of credit and the money threshold, then exhausted; re-armed only by a top-up), payment received,
// disconnected (or, inside friendly-credit hours, when supply will be; nothing for an exempt account),
// reconnected — written to the outbox, then drained to an SMS sender with retries (the local sink logs them;
// the outbox row keeps them either way). Warnings are not urgent: one that falls in the site's quiet hours
// waits for their end; the others go any time.
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import * as store from '#store/notifications';
import { alertLevelOf, renderSms, type AlertLevel, type AlertState } from '#domain/alerts';
import { friendlyCreditAt, quietHoursAt } from '#domain/control-policy';
import { wallParts } from '#domain/tariff/index';
import { policiesOf, type AccountPolicy } from '../billing/policy.ts';

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

/** When a non-urgent SMS may go for this account: now, or the end of its site's quiet hours. */
function notBefore(policy: AccountPolicy | undefined, now: Date): Date | undefined {
  if (!policy) return undefined;
  const quiet = quietHoursAt(policy.policy.quietHours, policy.input.timezone, now.getTime());
  return quiet.inside && quiet.endsAt !== undefined ? new Date(quiet.endsAt) : undefined;
}

/**
 * Move each account's warning ladder to where its balance stands; each rung climbed queues one SMS (low
 * balance with days left, or at exhausted what alertNotification says). Climbing down (which re-arms the warnings) only
 * when `rearm` says a top-up happened: a forecast that wobbles with spending sends nothing twice.
 */
export async function updateAlerts(
  deps: { db: Db; logger?: Logger; now: () => Date },
  accountIds: readonly string[],
  ref: string,
  options: { rearm: boolean; policies?: ReadonlyMap<string, AccountPolicy> } = { rearm: false },
): Promise<{ accountId: string; from: AlertState; to: AlertState }[]> {
  const moves: { accountId: string; from: AlertState; to: AlertState }[] = [];
  const now = deps.now();
  // The caller's, when it has just read them for these accounts (balance control does): one read less.
  const policies = options.policies && accountIds.every((id) => options.policies?.has(id)) ? options.policies : await policiesOf(deps, accountIds);
  for (const t of await store.alertTargets(deps.db, accountIds, now)) {
    const policy = policies.get(t.accountId);
    if (!policy) continue;
    const { lowBalanceMinor, warningDays, emergencyCreditMinor } = policy.policy;
    const level = alertLevelOf(t.balanceMinor, t.dailySpendMinor, { lowBalanceMinor, warningDays, emergencyCreditMinor });
    if (level.rung === t.alertRung && level.state === t.alertState) continue;
    const worse = level.rung > t.alertRung;
    if (!worse && !options.rearm) continue;
    const notification: store.NewNotification | null = worse ? alertNotification(t, level, policy, now, ref) : null;
    if (await store.moveAlertState(deps.db, t.accountId, { state: t.alertState, rung: t.alertRung }, { state: level.state, rung: level.rung }, notification)) {
      moves.push({ accountId: t.accountId, from: t.alertState, to: level.state });
    }
  }
  return moves;
}

/**
 * The SMS for a rung climbed. At exhausted it says what balance control does: nothing for an exempt
 * account (it is not disconnected; the state still records exhausted); inside friendly-credit hours, that
 * supply will be disconnected when they end (site time) unless the customer tops up — the scheduled
 * disconnect itself sends nothing more; otherwise, disconnected. Exhausted is urgent; a warning waits for
 * the end of quiet hours.
 */
function alertNotification(t: store.AlertTarget, level: AlertLevel, policy: AccountPolicy, now: Date, ref: string): store.NewNotification | null {
  const common = { accountId: t.accountId, recipient: t.phone, dedupeKey: `alert:${t.accountId}:${level.state}:${level.rung}:${ref}` };
  const money = { accountNo: t.accountNo, balanceMinor: t.balanceMinor, currency: t.currency };
  if (level.state !== 'exhausted') {
    return { ...common, template: 'low_balance', body: renderSms({ template: 'low_balance', ...money, days: level.days }), urgent: false, notBefore: notBefore(policy, now) ?? now };
  }
  if (policy.input.exemptReason) return null;
  const friendly = friendlyCreditAt(policy.policy, policy.input.timezone, now.getTime());
  if (friendly.inside && friendly.endsAt !== undefined) {
    const disconnectAtWallMs = wallParts(policy.input.timezone, friendly.endsAt).wallMs;
    return { ...common, template: 'credit_exhausted', body: renderSms({ template: 'credit_exhausted', ...money, disconnectAtWallMs }), urgent: true, notBefore: now };
  }
  return { ...common, template: 'disconnected', body: renderSms({ template: 'disconnected', ...money }), urgent: true, notBefore: now };
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
    urgent: true,
    notBefore: deps.now(),
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
    urgent: true,
    notBefore: deps.now(),
  });
}

/**
 * Send what is due; a failure is retried with back-off (retryDelayS), up to MAX_ATTEMPTS; a rejection is
 * failed at once. A non-urgent one that comes
 * due inside its site's quiet hours (a retry, or the hours changed) is held until they end, uncounted.
 */
export async function drainNotifications(deps: { db: Db; logger: Logger; now: () => Date; sms: SmsSender }, limit = 100): Promise<{ sent: number; failed: number; held: number }> {
  let sent = 0;
  let failed = 0;
  let held = 0;
  const now = deps.now();
  const claimed = await store.claimDue(deps.db, now, limit, RETRY_AFTER_S);
  const policies = await policiesOf(deps, claimed.filter((n) => !n.urgent && n.accountId).map((n) => n.accountId!));
  for (const n of claimed) {
    const until = n.urgent || !n.accountId ? undefined : notBefore(policies.get(n.accountId), now);
    if (until) {
      await store.holdNotification(deps.db, n.id, until);
      held++;
      continue;
    }
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
  return { sent, failed, held };
}
