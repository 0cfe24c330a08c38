// What changed lately, for the portal's live channel: device commands whose state moved, meters whose state
// moved (readings, relay, status), payments, account balances and parking spaces, since a time. Bounded;
// commands and payments (history tables) are found by their updated_at indexes.
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

export interface PaymentChange {
  id: string;
  account_id: string | null;
  status: string;
  updated_at: Date;
}

/**
 * Payments whose row changed at or after `since` (received, applied, held in suspense or conflict,
 * allocated, reversed: every write in the ledger functions stamps updated_at), oldest change first. Payments
 * are history, so this is found by their updated_at index (schema/0016_live_topics.sql).
 */
export async function paymentChangesSince(db: Executor, since: Date, limit: number): Promise<PaymentChange[]> {
  return db.selectFrom('payments').select(['id', 'account_id', 'status', 'updated_at']).where('updated_at', '>=', since).orderBy('updated_at').limit(limit).execute();
}

/**
 * Accounts whose row changed at or after `since` (ledger_post stamps updated_at with every balance change:
 * a payment applied, a bill, an adjustment), oldest change first. Accounts are the estate's size: no index.
 */
export async function accountChangesSince(db: Executor, since: Date, limit: number): Promise<{ id: string; updated_at: Date }[]> {
  return db.selectFrom('accounts').select(['id', 'updated_at']).where('updated_at', '>=', since).orderBy('updated_at').limit(limit).execute();
}

export interface ParkingChange {
  id: string;
  current_state: string;
  updated_at: Date;
}

/**
 * Parking spaces whose row changed at or after `since` (an occupancy uplink, a display's confirmation, an
 * override or maintenance, a reservation starting or ending, a device assigned), oldest change first.
 * Spaces are the estate's size: no index.
 */
export async function parkingChangesSince(db: Executor, since: Date, limit: number): Promise<ParkingChange[]> {
  return db.selectFrom('parking_spaces').select(['id', 'current_state', 'updated_at']).where('updated_at', '>=', since).orderBy('updated_at').limit(limit).execute();
}
