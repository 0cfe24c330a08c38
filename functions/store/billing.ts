// The billing job's store: the meters of one chunk with where their billing stopped and their latest
// reading (one statement per chunk), billing_apply (one statement per chunk: lock the meters' state,
// post through ledger_post, move the state), and the billing runs.
import { sql } from 'kysely';
import { json, type Executor } from './db.ts';
import { mapDbError } from './errors.ts';

export interface BillableMeter {
  meterId: string;
  meterNo: string;
  unit: string;
  accountId: string | null;
  tariffId: string | null;
  timezone: string;
  /** Where billing stopped (undefined: never billed). */
  state?: { readingId: number; value: string; at: Date; carry: string; monthKey: string | null; monthUnits: string };
  /** The first reading since the meter joined its account: where a never-billed meter starts. */
  baseline?: { readingId: number; value: string; at: Date };
  /** The meter's latest reading (by reading time). */
  latest?: { readingId: number; value: string; at: Date };
}

interface ChunkRow {
  meter_id: string;
  meter_no: string;
  unit: string;
  account_id: string | null;
  tariff_id: string | null;
  timezone: string;
  last_reading_id: string | number | null;
  last_value: string | null;
  last_at: Date | null;
  carry_minor: string | null;
  month_key: string | null;
  month_units: string | null;
  latest_id: string | number | null;
  latest_value: string | null;
  latest_at: Date | null;
  base_id: string | number | null;
  base_value: string | null;
  base_at: Date | null;
}

/** Prepaid, active meters after `afterMeterId` in id order, at most `limit`. */
export async function billableMeters(db: Executor, afterMeterId: string | null, limit: number): Promise<BillableMeter[]> {
  // The chunk's ids first (an index range scan), so every join below is per meter of the chunk.
  const { rows } = await sql<ChunkRow>`
    WITH chunk AS (
      SELECT id FROM meters
      WHERE is_prepaid AND is_active AND (CAST(${afterMeterId} AS uuid) IS NULL OR id > CAST(${afterMeterId} AS uuid))
      ORDER BY id LIMIT ${limit})
    SELECT m.id AS meter_id, m.meter_no, m.unit, m.account_id, mt.tariff_id, COALESCE(st.timezone, 'UTC') AS timezone,
           s.last_reading_id, CAST(s.last_value AS text) AS last_value, s.last_at, CAST(s.carry_minor AS text) AS carry_minor,
           s.month_key, CAST(s.month_units AS text) AS month_units,
           l.id AS latest_id, CAST(l.reading_value AS text) AS latest_value, l.reading_date AS latest_at,
           b.id AS base_id, CAST(b.reading_value AS text) AS base_value, b.reading_date AS base_at
    FROM chunk
    JOIN meters m ON m.id = chunk.id
    LEFT JOIN account_tariffs at ON at.account_id = m.account_id AND at.meter_type = m.meter_type
    LEFT JOIN site_tariffs sit ON sit.site_id = m.site_id AND sit.meter_type = m.meter_type
    -- The meter_tariff view's resolution (meter, else account, else site default), per meter of the chunk.
    CROSS JOIN LATERAL (SELECT COALESCE(m.tariff_id, at.tariff_id, sit.tariff_id) AS tariff_id) mt
    LEFT JOIN sites st ON st.id = m.site_id
    LEFT JOIN billing_state s ON s.meter_id = m.id
    LEFT JOIN LATERAL (
      SELECT r.id, r.reading_value, r.reading_date FROM meter_readings r
      WHERE r.meter_id = m.id AND r.reading_value IS NOT NULL
      ORDER BY r.reading_date DESC, r.id DESC LIMIT 1) l ON true
    LEFT JOIN LATERAL (
      SELECT r.id, r.reading_value, r.reading_date FROM meter_readings r
      WHERE s.last_reading_id IS NULL AND m.account_id IS NOT NULL AND r.meter_id = m.id AND r.reading_value IS NOT NULL
        AND r.reading_date >= COALESCE((SELECT am.valid_from FROM account_meters am WHERE am.meter_id = m.id AND am.valid_to IS NULL),
                                       CAST('-infinity' AS timestamptz))
      ORDER BY r.reading_date, r.id LIMIT 1) b ON true
    ORDER BY m.id`.execute(db);
  return rows.map((r) => ({
    meterId: r.meter_id,
    meterNo: r.meter_no,
    unit: r.unit,
    accountId: r.account_id,
    tariffId: r.tariff_id,
    timezone: r.timezone,
    ...(r.last_reading_id !== null && r.last_value !== null && r.last_at
      ? {
          state: {
            readingId: Number(r.last_reading_id),
            value: r.last_value,
            at: new Date(r.last_at),
            carry: r.carry_minor ?? '0',
            monthKey: r.month_key,
            monthUnits: r.month_units ?? '0',
          },
        }
      : {}),
    ...(r.base_id !== null && r.base_value !== null && r.base_at ? { baseline: { readingId: Number(r.base_id), value: r.base_value, at: new Date(r.base_at) } } : {}),
    ...(r.latest_id !== null && r.latest_value !== null && r.latest_at ? { latest: { readingId: Number(r.latest_id), value: r.latest_value, at: new Date(r.latest_at) } } : {}),
  }));
}

export interface BillingItem {
  meterId: string;
  accountId: string;
  /** The state's reading id the run read (null: never billed); the item is skipped if it moved since. */
  expectedReadingId: number | null;
  toReadingId: number;
  toValue: string;
  toAt: string;
  carry: string;
  monthKey: string;
  monthUnits: string;
  /** The debit in whole minor units (>= 0; 0 only moves the state). */
  amountMinor: number;
  idempotencyKey: string;
  sourceRef: string;
  description: string;
}

export interface BillingOutcome {
  meterId: string;
  accountId: string;
  outcome: 'posted' | 'duplicate' | 'advanced' | 'stale';
  entryId: number | null;
  balanceAfterMinor: number | null;
}

/** Post a chunk's consumption entries and move its meters' state, in one statement. */
export async function applyBilling(db: Executor, runId: string, items: readonly BillingItem[]): Promise<BillingOutcome[]> {
  if (!items.length) return [];
  try {
    const { rows } = await sql<{ out_meter_id: string; out_account_id: string; out_outcome: BillingOutcome['outcome']; out_entry_id: string | number | null; out_balance_after_minor: string | number | null }>`
      SELECT * FROM billing_apply(CAST(${runId} AS uuid), ${json(items)})`.execute(db);
    return rows.map((r) => ({
      meterId: r.out_meter_id,
      accountId: r.out_account_id,
      outcome: r.out_outcome,
      entryId: r.out_entry_id === null ? null : Number(r.out_entry_id),
      balanceAfterMinor: r.out_balance_after_minor === null ? null : Number(r.out_balance_after_minor),
    }));
  } catch (error) {
    throw mapDbError(error, 'billing');
  }
}

// ---- Fixed charges (one entry per account per local day) ----

/** A meter's time on an account (account_meters), with the tariff that prices it now. */
export interface FixedMembership {
  meterId: string;
  meterNo: string;
  tariffId: string | null;
  from: Date;
  to: Date | null;
}

export interface FixedAccount {
  accountId: string;
  /** The account's local days are its meters' site's (the first by site time zone name when they differ). */
  timezone: string;
  /** The first local day not charged yet (YYYY-MM-DD); undefined: never charged. */
  nextDate?: string;
  carry: string;
  /** False: already charged through today (no memberships read). */
  due: boolean;
  /** Its prepaid meters' memberships since the catch-up window (what the chunk's size counts). */
  meterCount: number;
  memberships: FixedMembership[];
}

/**
 * The accounts after `afterAccountId` (id order) that may be due, with a prepaid meter on them since
 * `since`: at most `maxAccounts`, and stopping once their meters pass `maxMeters` (so a chunk's response
 * and its posting stay far inside the Data API's limits whatever the meters per account). One statement.
 */
export async function fixedChargeAccounts(
  db: Executor,
  opts: { afterAccountId: string | null; now: Date; since: Date; maxAccounts: number; maxMeters: number },
): Promise<{ accounts: FixedAccount[]; lastAccountId: string | null }> {
  const { rows } = await sql<{
    account_id: string; timezone: string; n: string | number; next_date: string | null; carry: string | null; due: boolean;
    meters: { meterId: string; meterNo: string; tariffId: string | null; from: string; to: string | null }[] | string | null;
  }>`
    WITH cand AS (
      -- Accounts in id order that may be due (a next day past the latest local date anywhere, UTC+14, is
      -- certainly not) with a prepaid meter on them since the catch-up window.
      SELECT a.id AS account_id FROM accounts a LEFT JOIN billing_fixed_state s ON s.account_id = a.id
      WHERE (CAST(${opts.afterAccountId} AS uuid) IS NULL OR a.id > CAST(${opts.afterAccountId} AS uuid))
        AND (s.next_date IS NULL OR s.next_date <= CAST(timezone('UTC', CAST(${opts.now} AS timestamptz)) + interval '14 hours' AS date))
        AND EXISTS (SELECT 1 FROM account_meters am JOIN meters m ON m.id = am.meter_id
                    WHERE am.account_id = a.id AND m.is_prepaid AND (am.valid_to IS NULL OR am.valid_to > ${opts.since}))
      ORDER BY a.id LIMIT ${opts.maxAccounts}),
    -- Their meters' memberships, read once for the chunk (not once per account).
    mem AS MATERIALIZED (
      SELECT am.account_id, m.id AS meter_id, m.meter_no, m.site_id, m.meter_type, m.tariff_id, am.valid_from, am.valid_to
      FROM account_meters am JOIN meters m ON m.id = am.meter_id
      WHERE am.account_id IN (SELECT account_id FROM cand) AND m.is_prepaid AND (am.valid_to IS NULL OR am.valid_to > ${opts.since})),
    sized AS (
      SELECT mem.account_id, count(*) AS n, min(COALESCE(st.timezone, 'UTC')) AS timezone
      FROM mem LEFT JOIN sites st ON st.id = mem.site_id GROUP BY mem.account_id),
    chunk AS (
      SELECT account_id, n, timezone FROM (SELECT sized.*, sum(n) OVER (ORDER BY account_id) AS cum FROM sized) c
      WHERE cum - n < ${opts.maxMeters}),
    due AS (
      SELECT chunk.account_id, chunk.n, chunk.timezone, s.next_date, s.carry_minor,
             (s.next_date IS NULL OR s.next_date <= CAST(timezone(chunk.timezone, CAST(${opts.now} AS timestamptz)) AS date)) AS due
      FROM chunk LEFT JOIN billing_fixed_state s ON s.account_id = chunk.account_id),
    agg AS (
      -- The meter_tariff view's resolution (meter, else account, else site default), per membership.
      SELECT mem.account_id,
             json_agg(json_build_object('meterId', mem.meter_id, 'meterNo', mem.meter_no,
                                        'tariffId', COALESCE(mem.tariff_id, at.tariff_id, sit.tariff_id),
                                        'from', mem.valid_from, 'to', mem.valid_to) ORDER BY mem.meter_id, mem.valid_from) AS meters
      FROM mem JOIN due d ON d.account_id = mem.account_id AND d.due
      LEFT JOIN account_tariffs at ON at.account_id = mem.account_id AND at.meter_type = mem.meter_type
      LEFT JOIN site_tariffs sit ON sit.site_id = mem.site_id AND sit.meter_type = mem.meter_type
      GROUP BY mem.account_id)
    SELECT d.account_id, d.timezone, d.n, CAST(d.next_date AS text) AS next_date, CAST(d.carry_minor AS text) AS carry, d.due, agg.meters
    FROM due d LEFT JOIN agg ON agg.account_id = d.account_id ORDER BY d.account_id`.execute(db);
  const accounts = rows.map((r): FixedAccount => {
    const meters = (typeof r.meters === 'string' ? JSON.parse(r.meters) : r.meters) as { meterId: string; meterNo: string; tariffId: string | null; from: string; to: string | null }[] | null;
    return {
      accountId: r.account_id,
      timezone: r.timezone,
      ...(r.next_date ? { nextDate: r.next_date.slice(0, 10) } : {}),
      carry: r.carry ?? '0',
      due: r.due,
      meterCount: Number(r.n),
      memberships: (meters ?? []).map((m) => ({ meterId: m.meterId, meterNo: m.meterNo, tariffId: m.tariffId, from: new Date(m.from), to: m.to ? new Date(m.to) : null })),
    };
  });
  return { accounts, lastAccountId: rows.length ? rows[rows.length - 1]!.account_id : null };
}

export interface FixedAccountMove {
  accountId: string;
  /** The state's next day the run read (null: never charged); the account is skipped if it moved since. */
  expectedNextDate: string | null;
  nextDate: string;
  carry: string;
}

export interface FixedItem {
  accountId: string;
  localDate: string;
  /** The debit in whole minor units (> 0). */
  amountMinor: number;
  idempotencyKey: string;
  sourceRef: string;
  description: string;
  detail: unknown;
}

export interface FixedOutcome {
  accountId: string;
  localDate: string | null;
  outcome: 'posted' | 'duplicate' | 'stale';
  entryId: number | null;
  balanceAfterMinor: number | null;
}

/** Post a chunk's fixed-charge entries and move its accounts' fixed state, in one statement. */
export async function applyFixedCharges(db: Executor, runId: string, accounts: readonly FixedAccountMove[], items: readonly FixedItem[]): Promise<FixedOutcome[]> {
  if (!accounts.length) return [];
  try {
    const { rows } = await sql<{ out_account_id: string; out_local_date: string | Date | null; out_outcome: FixedOutcome['outcome']; out_entry_id: string | number | null; out_balance_after_minor: string | number | null }>`
      SELECT out_account_id, CAST(out_local_date AS text) AS out_local_date, out_outcome, out_entry_id, out_balance_after_minor
      FROM billing_fixed_apply(CAST(${runId} AS uuid), ${json(accounts)}, ${json(items)})`.execute(db);
    return rows.map((r) => ({
      accountId: r.out_account_id,
      localDate: r.out_local_date === null ? null : String(r.out_local_date).slice(0, 10),
      outcome: r.out_outcome,
      entryId: r.out_entry_id === null ? null : Number(r.out_entry_id),
      balanceAfterMinor: r.out_balance_after_minor === null ? null : Number(r.out_balance_after_minor),
    }));
  } catch (error) {
    throw mapDbError(error, 'billing');
  }
}

/** The per-meter detail of an account's fixed-charge entries, newest day first. */
export async function fixedChargeDetails(db: Executor, accountId: string, limit = 31): Promise<{ localDate: string; entryId: number; detail: unknown }[]> {
  const { rows } = await sql<{ local_date: string; entry_id: string | number; detail: unknown }>`
    SELECT CAST(local_date AS text) AS local_date, entry_id, detail FROM billing_fixed_charges
    WHERE account_id = CAST(${accountId} AS uuid) ORDER BY local_date DESC LIMIT ${limit}`.execute(db);
  return rows.map((r) => ({ localDate: r.local_date, entryId: Number(r.entry_id), detail: typeof r.detail === 'string' ? (JSON.parse(r.detail) as unknown) : r.detail }));
}

// ---- Runs ----

export interface SkippedReport {
  [reason: string]: { count: number; meters: string[] };
}

/** A billing run: what it was asked for, where it stands, and its totals. */
export interface BillingRun extends RunTotals {
  id: string;
  trigger: 'schedule' | 'manual';
  requestedBy: string | null;
  status: 'running' | 'completed' | 'failed';
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

interface RunRow {
  id: string;
  trigger: BillingRun['trigger'];
  requested_by: string | null;
  status: BillingRun['status'];
  meters_seen: number;
  meters_billed: number;
  entries_posted: number;
  amount_minor: string | number;
  fixed_entries_posted: number;
  fixed_amount_minor: string | number;
  skipped: SkippedReport | string;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

const toRun = (r: RunRow): BillingRun => ({
  id: r.id,
  trigger: r.trigger,
  requestedBy: r.requested_by,
  status: r.status,
  metersSeen: Number(r.meters_seen),
  metersBilled: Number(r.meters_billed),
  entriesPosted: Number(r.entries_posted),
  amountMinor: Number(r.amount_minor),
  fixedEntriesPosted: Number(r.fixed_entries_posted),
  fixedAmountMinor: Number(r.fixed_amount_minor),
  skipped: typeof r.skipped === 'string' ? (JSON.parse(r.skipped) as SkippedReport) : r.skipped,
  error: r.error,
  startedAt: new Date(r.started_at),
  finishedAt: r.finished_at ? new Date(r.finished_at) : null,
});

export async function startRun(db: Executor, trigger: BillingRun['trigger'], requestedBy: string | null): Promise<BillingRun> {
  const { rows } = await sql<RunRow>`
    INSERT INTO billing_runs (trigger, requested_by) VALUES (${trigger}, ${requestedBy}) RETURNING *`.execute(db);
  return toRun(rows[0]!);
}

export interface RunTotals {
  metersSeen: number;
  metersBilled: number;
  entriesPosted: number;
  amountMinor: number;
  /** Fixed-charge entries (one per account per local day) and their total. */
  fixedEntriesPosted: number;
  fixedAmountMinor: number;
  skipped: SkippedReport;
}

export async function finishRun(db: Executor, id: string, totals: RunTotals, error: string | null): Promise<BillingRun> {
  const { rows } = await sql<RunRow>`
    UPDATE billing_runs SET status = ${error ? 'failed' : 'completed'}, meters_seen = ${totals.metersSeen}, meters_billed = ${totals.metersBilled},
      entries_posted = ${totals.entriesPosted}, amount_minor = ${totals.amountMinor},
      fixed_entries_posted = ${totals.fixedEntriesPosted}, fixed_amount_minor = ${totals.fixedAmountMinor}, skipped = ${json(totals.skipped)}, error = ${error},
      finished_at = now()
    WHERE id = CAST(${id} AS uuid) RETURNING *`.execute(db);
  return toRun(rows[0]!);
}

export async function listRuns(db: Executor, page: { limit: number; offset: number }): Promise<BillingRun[]> {
  const { rows } = await sql<RunRow>`
    SELECT * FROM billing_runs ORDER BY started_at DESC, id LIMIT ${page.limit} OFFSET ${page.offset}`.execute(db);
  return rows.map(toRun);
}

// ---- Balance-driven control ----

export interface ControlTarget {
  accountId: string;
  balanceMinor: number;
  exemptReason: string | null;
  /** The account's latest payment entry: a new one starts a new disconnect episode. */
  lastCreditEntryId: number | null;
  meterId: string;
  meterNo: string;
  relayState: 'on' | 'off' | 'unknown';
  deviceKind: string | null;
  capabilities: Record<string, unknown> | null;
  deviceConfig: Record<string, unknown> | null;
  /** The meter's latest relay command. */
  lastRelay: { id: string; type: 'relay_on' | 'relay_off'; status: string; reason: string | null } | null;
  /** The meter's open disconnect scheduled for the end of friendly-credit hours (schema/0014). */
  scheduled: { id: string; dueAt: Date } | null;
}

/** The active meters of the given accounts with what balance control decides on; one statement. */
export async function controlTargets(db: Executor, accountIds: readonly string[]): Promise<ControlTarget[]> {
  if (!accountIds.length) return [];
  const { rows } = await sql<{
    account_id: string; balance_minor: string | number;
    control_exempt_reason: string | null; last_credit_id: string | number | null; meter_id: string; meter_no: string; relay_state: ControlTarget['relayState'];
    kind: string | null; capabilities: Record<string, unknown> | null; config: Record<string, unknown> | null;
    cmd_id: string | null; command_type: 'relay_on' | 'relay_off' | null; status: string | null; reason: string | null;
    scheduled_id: string | null; scheduled_due_at: Date | null;
  }>`
    SELECT a.id AS account_id, a.balance_minor, a.control_exempt_reason,
           (SELECT max(e.id) FROM ledger_entries e WHERE e.account_id = a.id AND e.entry_type = 'payment') AS last_credit_id,
           m.id AS meter_id, m.meter_no, m.relay_state, d.kind, d.capabilities, d.config,
           c.id AS cmd_id, c.command_type, c.status, c.reason, sd.id AS scheduled_id, sd.due_at AS scheduled_due_at
    FROM accounts a
    JOIN meters m ON m.account_id = a.id AND m.is_active
    LEFT JOIN meter_current_device md ON md.meter_id = m.id
    LEFT JOIN devices d ON d.id = md.device_id
    LEFT JOIN LATERAL (
      SELECT c.id, c.command_type, c.status, c.reason FROM device_commands c
      WHERE c.meter_id = m.id AND c.command_type IN ('relay_on', 'relay_off')
      ORDER BY c.created_at DESC, c.id DESC LIMIT 1) c ON true
    LEFT JOIN scheduled_disconnects sd ON sd.meter_id = m.id AND sd.status = 'scheduled'
    WHERE a.id IN (SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(${json(accountIds)}))
    ORDER BY a.id, m.id`.execute(db);
  return rows.map((r) => ({
    accountId: r.account_id,
    balanceMinor: Number(r.balance_minor),
    exemptReason: r.control_exempt_reason,
    lastCreditEntryId: r.last_credit_id === null ? null : Number(r.last_credit_id),
    meterId: r.meter_id,
    meterNo: r.meter_no,
    relayState: r.relay_state,
    deviceKind: r.kind,
    capabilities: r.capabilities,
    deviceConfig: r.config,
    lastRelay: r.cmd_id && r.command_type && r.status ? { id: r.cmd_id, type: r.command_type, status: r.status, reason: r.reason } : null,
    scheduled: r.scheduled_id && r.scheduled_due_at ? { id: r.scheduled_id, dueAt: new Date(r.scheduled_due_at) } : null,
  }));
}

/** A meter's billing month-to-date units (for the unit price an ESP32 balance in units is divided by). */
export async function monthToDate(db: Executor, meterId: string): Promise<{ monthKey: string | null; units: string } | undefined> {
  const { rows } = await sql<{ month_key: string | null; units: string }>`
    SELECT month_key, CAST(month_units AS text) AS units FROM billing_state WHERE meter_id = CAST(${meterId} AS uuid)`.execute(db);
  const r = rows[0];
  return r ? { monthKey: r.month_key, units: r.units } : undefined;
}

// ---- ESP32 balance resync and discrepancies ----

/** The active meters with these numbers and their accounts (the ones balance control can look at). */
export async function metersByNumber(db: Executor, meterNos: readonly string[]): Promise<{ meterId: string; meterNo: string; accountId: string | null }[]> {
  if (!meterNos.length) return [];
  const { rows } = await sql<{ id: string; meter_no: string; account_id: string | null }>`
    SELECT id, meter_no, account_id FROM meters
    WHERE is_active AND meter_no IN (SELECT value FROM jsonb_array_elements_text(${json(meterNos)}))`.execute(db);
  return rows.map((r) => ({ meterId: r.id, meterNo: r.meter_no, accountId: r.account_id }));
}

/** The accounts of these meters. */
export async function accountsOfMeters(db: Executor, meterIds: readonly string[]): Promise<Map<string, string>> {
  if (!meterIds.length) return new Map();
  const { rows } = await sql<{ id: string; account_id: string }>`
    SELECT id, account_id FROM meters
    WHERE account_id IS NOT NULL AND id IN (SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(${json(meterIds)}))`.execute(db);
  return new Map(rows.map((r) => [r.id, r.account_id]));
}

/** Has a command with this idempotency key been created (a resync already sent in this debounce window)? */
export async function commandKeyExists(db: Executor, idempotencyKey: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`SELECT EXISTS (SELECT 1 FROM device_commands WHERE idempotency_key = ${idempotencyKey}) AS found`.execute(db);
  return rows[0]?.found === true;
}

export interface NewDiscrepancy {
  meterId: string;
  accountId: string | null;
  unit: 'currency' | 'units';
  reported: number;
  expected: number;
  difference: number;
  tolerance: number;
  reportedAt: Date;
}

/** Record a discrepancy once per report; returns its id, or undefined when that report was already recorded. */
export async function recordDiscrepancy(db: Executor, d: NewDiscrepancy): Promise<string | undefined> {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO balance_discrepancies (meter_id, account_id, unit, reported, expected, difference, tolerance, reported_at)
    VALUES (CAST(${d.meterId} AS uuid), CAST(${d.accountId} AS uuid), ${d.unit}, ${d.reported}, ${d.expected}, ${d.difference}, ${d.tolerance}, ${d.reportedAt})
    ON CONFLICT (meter_id, reported_at) DO NOTHING RETURNING id`.execute(db);
  return rows[0]?.id;
}

export async function setDiscrepancyResync(db: Executor, id: string, commandId: string): Promise<void> {
  await sql`UPDATE balance_discrepancies SET resync_command_id = CAST(${commandId} AS uuid) WHERE id = CAST(${id} AS uuid)`.execute(db);
}

export interface Discrepancy extends NewDiscrepancy {
  id: string;
  meterNo: string;
  detectedAt: Date;
  resyncCommandId: string | null;
}

/** Discrepancies newest first, optionally of one meter (its id or number) and since an instant. */
export async function listDiscrepancies(db: Executor, filter: { meter?: string | undefined; since?: Date | undefined; limit: number; offset: number }): Promise<{ items: Discrepancy[]; total: number }> {
  const isUuid = filter.meter !== undefined && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(filter.meter);
  const { rows } = await sql<{
    id: string; meter_id: string; meter_no: string; account_id: string | null; unit: Discrepancy['unit']; reported: string; expected: string;
    difference: string; tolerance: string; reported_at: Date; detected_at: Date; resync_command_id: string | null; total: string | number;
  }>`
    SELECT count(*) OVER () AS total, d.id, d.meter_id, m.meter_no, d.account_id, d.unit, CAST(d.reported AS text) AS reported, CAST(d.expected AS text) AS expected,
           CAST(d.difference AS text) AS difference, CAST(d.tolerance AS text) AS tolerance, d.reported_at, d.detected_at, d.resync_command_id
    FROM balance_discrepancies d JOIN meters m ON m.id = d.meter_id
    WHERE (CAST(${filter.meter ?? null} AS text) IS NULL
           OR (${isUuid} AND d.meter_id = CAST(${isUuid ? filter.meter! : null} AS uuid))
           OR m.meter_no = ${filter.meter ?? null})
      AND (CAST(${filter.since ?? null} AS timestamptz) IS NULL OR d.detected_at >= CAST(${filter.since ?? null} AS timestamptz))
    ORDER BY d.detected_at DESC, d.id LIMIT ${filter.limit} OFFSET ${filter.offset}`.execute(db);
  const items = rows.map((r) => ({
    id: r.id,
    meterId: r.meter_id,
    meterNo: r.meter_no,
    accountId: r.account_id,
    unit: r.unit,
    reported: Number(r.reported),
    expected: Number(r.expected),
    difference: Number(r.difference),
    tolerance: Number(r.tolerance),
    reportedAt: new Date(r.reported_at),
    detectedAt: new Date(r.detected_at),
    resyncCommandId: r.resync_command_id,
  }));
  return { items, total: rows.length ? Number(rows[0]!.total) : 0 };
}
