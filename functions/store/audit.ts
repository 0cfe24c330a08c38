// The audit log's store: who changed what, one entry or many in one statement, written with the
// executor (usually the transaction) that makes the change.
import { sql } from 'kysely';
import { json, type Executor } from './db.ts';

export interface AuditRow {
  actor: string;
  role: string;
  action: string;
  target_type: string;
  target_id: string | null;
  details: Record<string, unknown> | null;
  request_id: string | null;
}

export async function insertAuditEntry(db: Executor, row: AuditRow): Promise<void> {
  await db.insertInto('audit_log').values(row).execute();
}

/** Many entries in one statement: the rows travel as one jsonb parameter (the Data API has no arrays). */
export async function insertAuditEntries(db: Executor, rows: AuditRow[]): Promise<void> {
  if (!rows.length) return;
  await sql`
    INSERT INTO audit_log (actor, role, action, target_type, target_id, details, request_id)
    SELECT a.actor, a.role, a.action, a.target_type, a.target_id, a.details, a.request_id
    FROM jsonb_to_recordset(${json(rows)})
      AS a(actor text, role text, action text, target_type text, target_id text, details jsonb, request_id text)`.execute(db);
}
