// The ledger's store: postings through the one SQL function (ledger_post: account lock, idempotency key,
// append, new balance, all in one statement, so one Data API request in the cloud), statements with their
// running balance, and the invariants the database checks (ledger_invariant_violations()).
import { sql } from 'kysely';
import type { Executor } from './db.ts';
import { mapDbError } from './errors.ts';
import type { EntryType, LedgerEntry } from './schema.ts';

export interface Posting {
  accountId: string;
  entryType: EntryType;
  /** Signed, in minor units: credits positive, debits negative. */
  amountMinor: number;
  idempotencyKey: string;
  paymentId?: string | null;
  reversesEntryId?: number | null;
  reason?: string | null;
  sourceRef?: string | null;
  description?: string | null;
  createdBy?: string | null;
}

export interface PostingResult {
  entryId: number;
  balanceAfterMinor: number;
  /** false when the key had been posted before: the first posting's result, nothing appended. */
  created: boolean;
}

/**
 * Append one entry and move the account's balance, or return the first result of an earlier posting
 * with the same key. A key reused for another account, amount or type is a ConflictError.
 */
export async function post(db: Executor, p: Posting): Promise<PostingResult> {
  try {
    const { rows } = await sql<{ out_entry_id: number; out_balance_after_minor: number; out_created: boolean }>`
      SELECT out_entry_id, out_balance_after_minor, out_created FROM ledger_post(
        CAST(${p.accountId} AS uuid), CAST(${p.entryType} AS text), CAST(${p.amountMinor} AS bigint),
        CAST(${p.idempotencyKey} AS text), CAST(${p.paymentId ?? null} AS uuid), CAST(${p.reversesEntryId ?? null} AS bigint),
        CAST(${p.reason ?? null} AS text), CAST(${p.sourceRef ?? null} AS text), CAST(${p.description ?? null} AS text),
        CAST(${p.createdBy ?? null} AS text))`.execute(db);
    const row = rows[0];
    if (!row) throw new Error('ledger_post returned no row');
    return { entryId: Number(row.out_entry_id), balanceAfterMinor: Number(row.out_balance_after_minor), created: row.out_created };
  } catch (error) {
    throw mapDbError(error, 'ledger entry');
  }
}

export async function findEntry(db: Executor, id: number): Promise<LedgerEntry | undefined> {
  return db.selectFrom('ledger_entries').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface StatementFilter {
  from?: Date;
  to?: Date;
  limit: number;
}

export interface Statement {
  openingBalanceMinor: number;
  entries: LedgerEntry[];
}

/** An account's entries in [from, to), oldest first, and the balance before the first of them. */
export async function statement(db: Executor, accountId: string, filter: StatementFilter): Promise<Statement> {
  let query = db.selectFrom('ledger_entries').selectAll().where('account_id', '=', accountId);
  if (filter.from) query = query.where('created_at', '>=', filter.from);
  if (filter.to) query = query.where('created_at', '<', filter.to);
  const entries = await query.orderBy('id').limit(filter.limit).execute();
  const first = entries[0];
  const openingBalanceMinor = first ? Number(first.balance_after_minor) - Number(first.amount_minor) : await balanceBefore(db, accountId, filter.from);
  return { openingBalanceMinor, entries };
}

async function balanceBefore(db: Executor, accountId: string, before: Date | undefined): Promise<number> {
  let query = db.selectFrom('ledger_entries').select('balance_after_minor').where('account_id', '=', accountId);
  if (before) query = query.where('created_at', '<', before);
  const row = await query.orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row ? Number(row.balance_after_minor) : 0;
}

export interface InvariantViolation {
  rule: string;
  subject: string;
  detail: string;
}

/** Everything about the money that does not add up; empty when it all does. */
export async function invariantViolations(db: Executor): Promise<InvariantViolation[]> {
  // The arrears (debt recovery, 0014) are checked with the ledger: a recovery moves money between them.
  const { rows } = await sql<InvariantViolation>`
    SELECT rule, subject, detail FROM ledger_invariant_violations()
    UNION ALL SELECT rule, subject, detail FROM arrears_invariant_violations()`.execute(db);
  return rows;
}
