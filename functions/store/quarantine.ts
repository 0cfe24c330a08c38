// The quarantine as operators see it: list, read, and resolve (reprocessed or discarded) an item. The
// ingest path writes new items in its own store module, batched with its other rows.
import type { Executor } from './db.ts';
import type { Quarantined } from './schema.ts';

export type QuarantineStatus = Quarantined['status'];

export interface QuarantineFilter {
  status: QuarantineStatus;
  devEui?: string;
  reasonCode?: string;
  limit: number;
  offset: number;
}

export async function listQuarantine(db: Executor, filter: QuarantineFilter): Promise<Quarantined[]> {
  let query = db.selectFrom('quarantine').selectAll().where('status', '=', filter.status);
  if (filter.devEui) query = query.where('dev_eui', '=', filter.devEui);
  if (filter.reasonCode) query = query.where('reason_code', '=', filter.reasonCode);
  return query.orderBy('received_at', 'desc').orderBy('id').limit(filter.limit).offset(filter.offset).execute();
}

export async function findQuarantined(db: Executor, id: string): Promise<Quarantined | undefined> {
  return db.selectFrom('quarantine').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Mark a new item resolved; one already resolved (by a concurrent request) is left as it is. */
export async function resolveQuarantined(db: Executor, id: string, status: 'reprocessed' | 'discarded', at: Date): Promise<void> {
  await db.updateTable('quarantine').set({ status, resolved_at: at }).where('id', '=', id).where('status', '=', 'new').execute();
}
