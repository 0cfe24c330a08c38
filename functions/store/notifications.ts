// Balance alerts and the notifications outbox: the accounts' alert inputs (one statement for many), the
// conditional move of an account's alert state together with its notification (one statement, so two
// runs at once notify once), and the outbox drained with retries.
import { sql } from 'kysely';
import { json, type Executor } from './db.ts';

export interface AlertTarget {
  accountId: string;
  accountNo: string;
  currency: string;
  balanceMinor: number;
  alertState: 'ok' | 'low' | 'critical' | 'exhausted';
  /** How many warnings have been sent since the last top-up (the ladder's rung). */
  alertRung: number;
  phone: string | null;
  /** Consumption per day over the last 14 days, minor units. */
  dailySpendMinor: number;
}

export async function alertTargets(db: Executor, accountIds: readonly string[], now: Date): Promise<AlertTarget[]> {
  if (!accountIds.length) return [];
  const { rows } = await sql<{
    id: string; account_no: string; currency: string; balance_minor: string | number;
    alert_rung: number; alert_state: AlertTarget['alertState']; phone: string | null; spent: string | number | null;
  }>`
    SELECT a.id, a.account_no, a.currency, a.balance_minor, a.alert_state, a.alert_rung, c.phone,
           (SELECT -sum(e.amount_minor) FROM ledger_entries e
            WHERE e.account_id = a.id AND e.entry_type = 'consumption' AND e.created_at >= ${new Date(now.getTime() - 14 * 86_400_000)}) AS spent
    FROM accounts a JOIN customers c ON c.id = a.customer_id
    WHERE a.id IN (SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(${json(accountIds)}))`.execute(db);
  return rows.map((r) => ({
    accountId: r.id,
    accountNo: r.account_no,
    currency: r.currency.trim(),
    balanceMinor: Number(r.balance_minor),
    alertState: r.alert_state,
    alertRung: Number(r.alert_rung),
    phone: r.phone,
    dailySpendMinor: Number(r.spent ?? 0) / 14,
  }));
}

export interface NewNotification {
  accountId: string;
  recipient: string | null;
  template: 'payment_received' | 'low_balance' | 'disconnected' | 'credit_exhausted' | 'reconnected';
  body: string;
  dedupeKey: string;
  /** Non-urgent ones (warnings) wait for the end of quiet hours; urgent ones go any time. */
  urgent: boolean;
  /** Not sent before this (the end of quiet hours); now when absent. */
  notBefore?: Date | undefined;
}

/**
 * Move an account's alert state and rung from `from` to `to`, queueing `notification` with it; nothing
 * happens (false) if they are no longer `from` (another run moved them).
 */
export async function moveAlertState(
  db: Executor,
  accountId: string,
  from: { state: string; rung: number },
  to: { state: string; rung: number },
  notification: NewNotification | null,
): Promise<boolean> {
  const n = notification;
  const { rows } = await sql<{ moved: boolean }>`
    WITH moved AS (
      UPDATE accounts SET alert_state = ${to.state}, alert_rung = ${to.rung}, alert_state_at = now()
      WHERE id = CAST(${accountId} AS uuid) AND alert_state = ${from.state} AND alert_rung = ${from.rung}
      RETURNING id),
    queued AS (
      INSERT INTO notifications (account_id, recipient, template, body, dedupe_key, urgent, next_attempt_at)
      SELECT id, ${n?.recipient ?? null}, ${n?.template ?? 'low_balance'}, ${n?.body ?? ''}, ${n?.dedupeKey ?? ''}, ${n?.urgent ?? true},
             COALESCE(CAST(${n?.notBefore ?? null} AS timestamptz), now()) FROM moved
      WHERE ${n !== null}
      ON CONFLICT (dedupe_key) DO NOTHING
      RETURNING id)
    SELECT EXISTS (SELECT 1 FROM moved) AS moved, (SELECT count(*) FROM queued) AS queued`.execute(db);
  return rows[0]?.moved === true;
}

/** Queue a notification once per key. */
export async function enqueueNotification(db: Executor, n: NewNotification): Promise<void> {
  await sql`
    INSERT INTO notifications (account_id, recipient, template, body, dedupe_key, urgent, next_attempt_at)
    VALUES (CAST(${n.accountId} AS uuid), ${n.recipient}, ${n.template}, ${n.body}, ${n.dedupeKey}, ${n.urgent},
            COALESCE(CAST(${n.notBefore ?? null} AS timestamptz), now()))
    ON CONFLICT (dedupe_key) DO NOTHING`.execute(db);
}

export interface OutboxItem {
  id: string;
  accountId: string | null;
  recipient: string | null;
  template: string;
  body: string;
  attempts: number;
  urgent: boolean;
}

/** Claim up to `limit` due notifications: each attempt is counted and the next one pushed back by `retryAfterS`. */
export async function claimDue(db: Executor, now: Date, limit: number, retryAfterS: number): Promise<OutboxItem[]> {
  const { rows } = await sql<{ id: string; account_id: string | null; recipient: string | null; template: string; body: string; attempts: number; urgent: boolean }>`
    UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ${new Date(now.getTime() + retryAfterS * 1000)}
    WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= ${now}
                 ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING id, account_id, recipient, template, body, attempts, urgent`.execute(db);
  return rows.map((r) => ({ id: r.id, accountId: r.account_id, recipient: r.recipient, template: r.template, body: r.body, attempts: Number(r.attempts), urgent: r.urgent }));
}

/** Put a claimed notification back, unsent and its attempt not counted, until `until` (quiet hours' end). */
export async function holdNotification(db: Executor, id: string, until: Date): Promise<void> {
  await sql`UPDATE notifications SET attempts = attempts - 1, next_attempt_at = ${until}
            WHERE id = CAST(${id} AS uuid) AND status = 'pending'`.execute(db);
}

export async function markNotification(
  db: Executor,
  id: string,
  outcome: { status: 'sent'; providerMessageId: string } | { status: 'failed' | 'undeliverable'; error: string } | { status: 'pending'; error: string; retryAt?: Date },
): Promise<void> {
  if (outcome.status === 'pending' && outcome.retryAt) {
    await sql`UPDATE notifications SET last_error = ${outcome.error}, next_attempt_at = ${outcome.retryAt} WHERE id = CAST(${id} AS uuid)`.execute(db);
  } else if (outcome.status === 'sent') {
    await sql`UPDATE notifications SET status = 'sent', provider_message_id = ${outcome.providerMessageId}, sent_at = now(), last_error = NULL
              WHERE id = CAST(${id} AS uuid)`.execute(db);
  } else {
    await sql`UPDATE notifications SET status = ${outcome.status}, last_error = ${outcome.error} WHERE id = CAST(${id} AS uuid)`.execute(db);
  }
}

export interface NotificationRow {
  id: string;
  accountId: string | null;
  recipient: string | null;
  template: string;
  body: string;
  status: string;
  attempts: number;
  providerMessageId: string | null;
  urgent: boolean;
  nextAttemptAt: Date;
  createdAt: Date;
}

export async function notificationsOf(db: Executor, accountId: string): Promise<NotificationRow[]> {
  const { rows } = await sql<{ id: string; account_id: string | null; recipient: string | null; template: string; body: string; status: string; attempts: number; provider_message_id: string | null; urgent: boolean; next_attempt_at: Date; created_at: Date }>`
    SELECT * FROM notifications WHERE account_id = CAST(${accountId} AS uuid) ORDER BY created_at, id`.execute(db);
  return rows.map((r) => ({ id: r.id, accountId: r.account_id, recipient: r.recipient, template: r.template, body: r.body, status: r.status, attempts: Number(r.attempts), providerMessageId: r.provider_message_id, urgent: r.urgent, nextAttemptAt: new Date(r.next_attempt_at), createdAt: new Date(r.created_at) }));
}
