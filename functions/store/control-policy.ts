// The balance-control policy's store: site and account policy documents (validated by the app), the
// account's site and time zone, exemptions, disconnects scheduled for the end of friendly-credit hours, and
// the arrears with their debt recovery (arrears_set / debt_recover, schema/0014).
import { sql } from 'kysely';
import { json, type Executor } from './db.ts';

export interface PolicyInput {
  accountId: string;
  accountNo: string;
  currency: string;
  /** The account's site: its customer's, else the site of its first meter (by number). */
  siteId: string | null;
  timezone: string;
  site: unknown;
  account: unknown;
  exemptReason: string | null;
  exemptBy: string | null;
  exemptAt: Date | null;
  arrearsMinor: number;
  alertState: string;
  alertRung: number;
}

/** What the policy of each given account is made of; one statement. */
export async function policyInputs(db: Executor, accountIds: readonly string[]): Promise<PolicyInput[]> {
  if (!accountIds.length) return [];
  const { rows } = await sql<{
    id: string; account_no: string; currency: string; site_id: string | null; timezone: string | null; site_settings: unknown; account_settings: unknown;
    control_exempt_reason: string | null; control_exempt_by: string | null; control_exempt_at: Date | null; arrears_minor: string | number;
    alert_state: string; alert_rung: number;
  }>`
    SELECT a.id, a.account_no, a.currency, s.id AS site_id, s.timezone, sp.settings AS site_settings, ap.settings AS account_settings,
           a.control_exempt_reason, a.control_exempt_by, a.control_exempt_at, a.arrears_minor, a.alert_state, a.alert_rung
    FROM accounts a
    JOIN customers c ON c.id = a.customer_id
    LEFT JOIN sites s ON s.id = COALESCE(c.site_id,
      (SELECT m.site_id FROM meters m WHERE m.account_id = a.id AND m.site_id IS NOT NULL ORDER BY m.meter_no LIMIT 1))
    LEFT JOIN site_control_policies sp ON sp.site_id = s.id
    LEFT JOIN account_control_policies ap ON ap.account_id = a.id
    WHERE a.id IN (SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(${json(accountIds)}))`.execute(db);
  return rows.map((r) => ({
    accountId: r.id,
    accountNo: r.account_no,
    currency: r.currency.trim(),
    siteId: r.site_id,
    timezone: r.timezone ?? 'UTC',
    site: parsed(r.site_settings),
    account: parsed(r.account_settings),
    exemptReason: r.control_exempt_reason,
    exemptBy: r.control_exempt_by,
    exemptAt: r.control_exempt_at ? new Date(r.control_exempt_at) : null,
    arrearsMinor: Number(r.arrears_minor),
    alertState: r.alert_state,
    alertRung: Number(r.alert_rung),
  }));
}

const parsed = (v: unknown): unknown => (typeof v === 'string' ? (JSON.parse(v) as unknown) : v);

export interface SitePolicyRow {
  siteId: string;
  timezone: string;
  settings: unknown;
  updatedBy: string | null;
  updatedAt: Date | null;
}

export async function sitePolicy(db: Executor, siteId: string): Promise<SitePolicyRow | undefined> {
  const { rows } = await sql<{ id: string; timezone: string; settings: unknown; updated_by: string | null; updated_at: Date | null }>`
    SELECT s.id, s.timezone, sp.settings, sp.updated_by, sp.updated_at
    FROM sites s LEFT JOIN site_control_policies sp ON sp.site_id = s.id WHERE s.id = CAST(${siteId} AS uuid)`.execute(db);
  const r = rows[0];
  return r ? { siteId: r.id, timezone: r.timezone, settings: parsed(r.settings), updatedBy: r.updated_by, updatedAt: r.updated_at ? new Date(r.updated_at) : null } : undefined;
}

export async function setSitePolicy(db: Executor, siteId: string, settings: object, by: string): Promise<void> {
  await sql`
    INSERT INTO site_control_policies (site_id, settings, updated_by, updated_at) VALUES (CAST(${siteId} AS uuid), ${json(settings)}, ${by}, now())
    ON CONFLICT (site_id) DO UPDATE SET settings = EXCLUDED.settings, updated_by = EXCLUDED.updated_by, updated_at = now()`.execute(db);
}

export async function setAccountPolicy(db: Executor, accountId: string, settings: object, by: string): Promise<void> {
  await sql`
    INSERT INTO account_control_policies (account_id, settings, updated_by, updated_at) VALUES (CAST(${accountId} AS uuid), ${json(settings)}, ${by}, now())
    ON CONFLICT (account_id) DO UPDATE SET settings = EXCLUDED.settings, updated_by = EXCLUDED.updated_by, updated_at = now()`.execute(db);
}

/** Exempt an account from disconnection (reason) or lift it (null); false when there is no such account. */
export async function setExemption(db: Executor, accountId: string, reason: string | null, by: string, at: Date): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    UPDATE accounts SET control_exempt_reason = ${reason}, control_exempt_by = ${reason === null ? null : by},
      control_exempt_at = ${reason === null ? null : at}, updated_at = ${at}
    WHERE id = CAST(${accountId} AS uuid) RETURNING id`.execute(db);
  return rows.length > 0;
}

// ---- Scheduled disconnects ----

export interface ScheduledDisconnect {
  id: string;
  accountId: string;
  meterId: string;
  dueAt: Date;
  status: 'scheduled' | 'issued' | 'cancelled';
  reason: string;
  commandId: string | null;
  closedReason: string | null;
  createdAt: Date;
  closedAt: Date | null;
}

interface ScheduledRow {
  id: string; account_id: string; meter_id: string; due_at: Date; status: ScheduledDisconnect['status']; reason: string; command_id: string | null;
  closed_reason: string | null; created_at: Date; closed_at: Date | null;
}
const toScheduled = (r: ScheduledRow): ScheduledDisconnect => ({
  id: r.id,
  accountId: r.account_id,
  meterId: r.meter_id,
  dueAt: new Date(r.due_at),
  status: r.status,
  reason: r.reason,
  commandId: r.command_id,
  closedReason: r.closed_reason,
  createdAt: new Date(r.created_at),
  closedAt: r.closed_at ? new Date(r.closed_at) : null,
});

/** Schedule a meter's disconnect; nothing (undefined) when one is already open for it. */
export async function scheduleDisconnect(db: Executor, d: { accountId: string; meterId: string; dueAt: Date; reason: string }): Promise<ScheduledDisconnect | undefined> {
  const { rows } = await sql<ScheduledRow>`
    INSERT INTO scheduled_disconnects (account_id, meter_id, due_at, reason)
    VALUES (CAST(${d.accountId} AS uuid), CAST(${d.meterId} AS uuid), ${d.dueAt}, ${d.reason})
    ON CONFLICT (meter_id) WHERE status = 'scheduled' DO NOTHING
    RETURNING *`.execute(db);
  return rows[0] ? toScheduled(rows[0]) : undefined;
}

/** Close an open scheduled disconnect: issued (with its command) or cancelled; false when it was not open. */
export async function closeScheduledDisconnect(db: Executor, id: string, outcome: { status: 'issued'; commandId: string } | { status: 'cancelled'; reason: string }): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    UPDATE scheduled_disconnects SET status = ${outcome.status}, closed_at = now(),
      command_id = ${outcome.status === 'issued' ? outcome.commandId : null},
      closed_reason = ${outcome.status === 'cancelled' ? outcome.reason : 'disconnect issued'}
    WHERE id = CAST(${id} AS uuid) AND status = 'scheduled' RETURNING id`.execute(db);
  return rows.length > 0;
}

export async function scheduledDisconnectsOf(db: Executor, accountId: string, limit = 50): Promise<ScheduledDisconnect[]> {
  const { rows } = await sql<ScheduledRow>`
    SELECT * FROM scheduled_disconnects WHERE account_id = CAST(${accountId} AS uuid) ORDER BY created_at DESC, id LIMIT ${limit}`.execute(db);
  return rows.map(toScheduled);
}

/** The accounts with a scheduled disconnect due at `now`: the control run looks at them again. */
export async function accountsWithDueDisconnects(db: Executor, now: Date, limit = 10_000): Promise<string[]> {
  const { rows } = await sql<{ account_id: string }>`
    SELECT DISTINCT account_id FROM scheduled_disconnects WHERE status = 'scheduled' AND due_at <= ${now} LIMIT ${limit}`.execute(db);
  return rows.map((r) => r.account_id);
}

// ---- Arrears and debt recovery ----

export async function setArrears(db: Executor, accountId: string, arrearsMinor: number, reason: string, by: string): Promise<{ entryId: number | null; arrearsMinor: number }> {
  const { rows } = await sql<{ out_entry_id: string | number | null; out_arrears_minor: string | number }>`
    SELECT * FROM arrears_set(CAST(${accountId} AS uuid), CAST(${arrearsMinor} AS bigint), CAST(${reason} AS text), CAST(${by} AS text))`.execute(db);
  const r = rows[0]!;
  return { entryId: r.out_entry_id === null ? null : Number(r.out_entry_id), arrearsMinor: Number(r.out_arrears_minor) };
}

export interface Recovery {
  recoveredMinor: number;
  balanceAfterMinor: number | null;
  arrearsMinor: number;
  created: boolean;
}

/** Take `percent` % of a payment's credit towards the account's arrears, once per payment. */
export async function recoverDebt(db: Executor, paymentId: string, percent: number, by: string): Promise<Recovery> {
  const { rows } = await sql<{ out_recovered_minor: string | number; out_balance_after_minor: string | number | null; out_arrears_minor: string | number; out_created: boolean }>`
    SELECT * FROM debt_recover(CAST(${paymentId} AS uuid), CAST(${String(percent)} AS numeric), CAST(${by} AS text))`.execute(db);
  const r = rows[0]!;
  return {
    recoveredMinor: Number(r.out_recovered_minor),
    balanceAfterMinor: r.out_balance_after_minor === null ? null : Number(r.out_balance_after_minor),
    arrearsMinor: Number(r.out_arrears_minor),
    created: r.out_created,
  };
}

export interface ArrearsEntry {
  id: number;
  entryType: 'set' | 'recovery';
  amountMinor: number;
  arrearsAfterMinor: number;
  ledgerEntryId: number | null;
  paymentEntryId: number | null;
  paymentId: string | null;
  reason: string | null;
  createdBy: string | null;
  createdAt: Date;
}

export async function arrearsHistory(db: Executor, accountId: string, limit: number): Promise<ArrearsEntry[]> {
  const { rows } = await sql<{
    id: string | number; entry_type: ArrearsEntry['entryType']; amount_minor: string | number; arrears_after_minor: string | number;
    ledger_entry_id: string | number | null; payment_entry_id: string | number | null; payment_id: string | null; reason: string | null;
    created_by: string | null; created_at: Date;
  }>`
    SELECT x.*, p.payment_id FROM arrears_entries x LEFT JOIN ledger_entries p ON p.id = x.payment_entry_id
    WHERE x.account_id = CAST(${accountId} AS uuid) ORDER BY x.id DESC LIMIT ${limit}`.execute(db);
  const n = (v: string | number | null) => (v === null ? null : Number(v));
  return rows.map((r) => ({
    id: Number(r.id),
    entryType: r.entry_type,
    amountMinor: Number(r.amount_minor),
    arrearsAfterMinor: Number(r.arrears_after_minor),
    ledgerEntryId: n(r.ledger_entry_id),
    paymentEntryId: n(r.payment_entry_id),
    paymentId: r.payment_id,
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at),
  }));
}

export interface UnrecoveredPayment {
  accountId: string;
  paymentId: string;
  entryId: number;
}

/**
 * Payments credited in [since, before] to accounts with arrears that have no recovery yet, though one was
 * due when they were credited: the account had arrears then (its arrears entry before the payment left
 * some), and its own policy document has not changed since (a debt-recovery percentage set later does not
 * reach back). Oldest first, at most `limit`; the app applies the account's percentage to each.
 */
export async function unrecoveredPayments(db: Executor, window: { since: Date; before: Date }, limit: number): Promise<UnrecoveredPayment[]> {
  const { rows } = await sql<{ account_id: string; payment_id: string; id: string | number }>`
    SELECT e.account_id, e.payment_id, e.id
    FROM ledger_entries e
    JOIN accounts a ON a.id = e.account_id
    LEFT JOIN account_control_policies ap ON ap.account_id = e.account_id
    WHERE e.entry_type = 'payment' AND e.payment_id IS NOT NULL
      AND e.created_at >= ${window.since} AND e.created_at <= ${window.before}
      AND a.arrears_minor > 0
      AND NOT EXISTS (SELECT 1 FROM arrears_entries r WHERE r.payment_entry_id = e.id)
      AND NOT EXISTS (SELECT 1 FROM ledger_entries v WHERE v.reverses_entry_id = e.id)
      AND COALESCE((SELECT x.arrears_after_minor FROM arrears_entries x
                    WHERE x.account_id = e.account_id AND x.created_at <= e.created_at ORDER BY x.id DESC LIMIT 1), 0) > 0
      AND (ap.updated_at IS NULL OR ap.updated_at <= e.created_at)
    ORDER BY e.id
    LIMIT ${limit}`.execute(db);
  return rows.map((r) => ({ accountId: r.account_id, paymentId: r.payment_id, entryId: Number(r.id) }));
}
