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
  const { rows } = await sql<ChunkRow>`
    SELECT m.id AS meter_id, m.meter_no, m.unit, m.account_id, mt.tariff_id, COALESCE(st.timezone, 'UTC') AS timezone,
           s.last_reading_id, CAST(s.last_value AS text) AS last_value, s.last_at, CAST(s.carry_minor AS text) AS carry_minor,
           s.month_key, CAST(s.month_units AS text) AS month_units,
           l.id AS latest_id, CAST(l.reading_value AS text) AS latest_value, l.reading_date AS latest_at,
           b.id AS base_id, CAST(b.reading_value AS text) AS base_value, b.reading_date AS base_at
    FROM meters m
    JOIN meter_tariff mt ON mt.meter_id = m.id
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
    WHERE m.is_prepaid AND m.is_active AND (CAST(${afterMeterId} AS uuid) IS NULL OR m.id > CAST(${afterMeterId} AS uuid))
    ORDER BY m.id
    LIMIT ${limit}`.execute(db);
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

// ---- Runs ----

export interface SkippedReport {
  [reason: string]: { count: number; meters: string[] };
}

export interface BillingRun {
  id: string;
  trigger: 'schedule' | 'manual';
  requestedBy: string | null;
  status: 'running' | 'completed' | 'failed';
  metersSeen: number;
  metersBilled: number;
  entriesPosted: number;
  amountMinor: number;
  skipped: SkippedReport;
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
  skipped: SkippedReport;
}

export async function finishRun(db: Executor, id: string, totals: RunTotals, error: string | null): Promise<BillingRun> {
  const { rows } = await sql<RunRow>`
    UPDATE billing_runs SET status = ${error ? 'failed' : 'completed'}, meters_seen = ${totals.metersSeen}, meters_billed = ${totals.metersBilled},
      entries_posted = ${totals.entriesPosted}, amount_minor = ${totals.amountMinor}, skipped = ${json(totals.skipped)}, error = ${error},
      finished_at = now()
    WHERE id = CAST(${id} AS uuid) RETURNING *`.execute(db);
  return toRun(rows[0]!);
}

export async function listRuns(db: Executor, page: { limit: number; offset: number }): Promise<BillingRun[]> {
  const { rows } = await sql<RunRow>`
    SELECT * FROM billing_runs ORDER BY started_at DESC, id LIMIT ${page.limit} OFFSET ${page.offset}`.execute(db);
  return rows.map(toRun);
}
