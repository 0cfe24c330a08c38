// The audit log: every change an operator makes, written in the same transaction as the change.
import type { Executor } from '#store/db';
import { insertAuditEntries, insertAuditEntry, type AuditRow } from '#store/audit';
import type { Principal } from '#domain/roles';
import { storable } from '#domain/text';

/** Who makes a change, and the request it came in (both go on its audit row). */
export interface Actor {
  principal: Principal;
  requestId?: string;
}

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId?: string | null;
  details?: Record<string, unknown>;
}

/**
 * The row for an entry, storable whatever the request held: a NUL or lone surrogate in any field (a
 * refused request's reason, a token's subject) is replaced by U+FFFD and the details say `sanitised: true`,
 * so a change, or a refusal, is never left unaudited because of the text it carried.
 */
function auditRow(principal: Principal, requestId: string | undefined, entry: AuditEntry): AuditRow {
  const { value: row, sanitised } = storable<AuditRow>({
    actor: principal.subject,
    role: principal.roles.join(',') || 'none',
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId ?? null,
    details: entry.details ?? null,
    request_id: requestId ?? null,
  });
  return sanitised ? { ...row, details: { ...row.details, sanitised: true } } : row;
}

export async function audit(db: Executor, principal: Principal, requestId: string | undefined, entry: AuditEntry): Promise<void> {
  await insertAuditEntry(db, auditRow(principal, requestId, entry));
}

/** Several changes by one request, audited in one statement. */
export async function auditAll(db: Executor, principal: Principal, requestId: string | undefined, entries: AuditEntry[]): Promise<void> {
  await insertAuditEntries(db, entries.map((entry) => auditRow(principal, requestId, entry)));
}
