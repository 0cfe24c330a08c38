// The audit log: every change an operator makes, written in the same transaction as the change.
import type { Executor } from '#store/db';
import { insertAuditEntries, insertAuditEntry, type AuditRow } from '#store/audit';
import type { Principal } from '#domain/roles';

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

function auditRow(principal: Principal, requestId: string | undefined, entry: AuditEntry): AuditRow {
  return {
    actor: principal.subject,
    role: principal.roles.join(',') || 'none',
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId ?? null,
    details: entry.details ?? null,
    request_id: requestId ?? null,
  };
}

export async function audit(db: Executor, principal: Principal, requestId: string | undefined, entry: AuditEntry): Promise<void> {
  await insertAuditEntry(db, auditRow(principal, requestId, entry));
}

/** Several changes by one request, audited in one statement. */
export async function auditAll(db: Executor, principal: Principal, requestId: string | undefined, entries: AuditEntry[]): Promise<void> {
  await insertAuditEntries(db, entries.map((entry) => auditRow(principal, requestId, entry)));
}
