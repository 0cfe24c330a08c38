// The audit log: every change an operator makes, written in the same transaction as the change.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '#store/schema';
import type { Principal } from '#domain/roles';

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId?: string | null;
  details?: Record<string, unknown>;
}

export async function audit(
  db: Kysely<Database> | Transaction<Database>,
  principal: Principal,
  requestId: string | undefined,
  entry: AuditEntry,
): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: principal.subject,
      role: principal.roles.join(',') || 'none',
      action: entry.action,
      target_type: entry.targetType,
      target_id: entry.targetId ?? null,
      details: entry.details ?? null,
      request_id: requestId ?? null,
    })
    .execute();
}
