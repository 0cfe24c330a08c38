// What changed lately, for the local live channel: device commands whose state moved and meters whose
// state moved (readings, relay, status), since a time. Bounded; commands are found by their updated_at index.
import type { Executor } from './db.ts';

export interface CommandChange {
  id: string;
  meter_id: string | null;
  status: string;
  delivery_state: string | null;
  updated_at: Date;
}

/** Commands whose row changed at or after `since`, oldest change first, at most `limit`. */
export async function commandChangesSince(db: Executor, since: Date, limit: number): Promise<CommandChange[]> {
  return db
    .selectFrom('device_commands')
    .select(['id', 'meter_id', 'status', 'delivery_state', 'updated_at'])
    .where('updated_at', '>=', since)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

/**
 * Meters whose row changed at or after `since` (a reading moved last_reading, the relay state or the
 * communication status changed), oldest change first. The meters table is the estate's size, not its
 * history's, so this needs no index.
 */
export async function meterChangesSince(db: Executor, since: Date, limit: number): Promise<{ id: string; updated_at: Date }[]> {
  return db.selectFrom('meters').select(['id', 'updated_at']).where('updated_at', '>=', since).orderBy('updated_at').limit(limit).execute();
}
