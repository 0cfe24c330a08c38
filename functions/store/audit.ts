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

export interface AuditFilter {
  actor?: string | undefined;
  action?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  limit: number;
  offset: number;
}

export interface AuditEntry extends AuditRow {
  id: number;
  created_at: Date;
}

/** The audit log newest first, filtered, one page and how many entries the filter matches in all. */
export async function listAuditEntries(db: Executor, f: AuditFilter): Promise<{ items: AuditEntry[]; total: number }> {
  let q = db.selectFrom('audit_log');
  if (f.actor) q = q.where('actor', '=', f.actor);
  if (f.action) q = q.where('action', '=', f.action);
  if (f.targetType) q = q.where('target_type', '=', f.targetType);
  if (f.targetId) q = q.where('target_id', '=', f.targetId);
  if (f.from) q = q.where('created_at', '>=', f.from);
  if (f.to) q = q.where('created_at', '<', f.to);
  const [rows, count] = await Promise.all([
    q.select(['id', 'actor', 'role', 'action', 'target_type', 'target_id', 'details', 'request_id', 'created_at']).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit).offset(f.offset).execute(),
    q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
  ]);
  return { items: rows.map((r) => ({ ...r, id: Number(r.id) })), total: Number(count?.n ?? 0) };
}
