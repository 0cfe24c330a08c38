// The estate at a glance, for the portal's overview: counts over meters, device commands and the
// quarantine in one statement (one round trip, also through the Data API).
import { sql } from 'kysely';
import { openStatuses } from '#domain/commands';
import type { Executor } from './db.ts';
import { mapDbError } from './errors.ts';

export interface EstateOverview {
  meters: { total: number; online: number; offline: number; unknown: number; relayOff: number };
  commands: { inFlight: number; awaitingDevice: number; deliveryUnknown: number; failedSince: number };
  quarantine: { new: number };
}

const open = sql.raw(`(${openStatuses.map((s) => `'${s}'`).join(', ')})`);

/** Counts now; `failedSince` counts commands that failed or expired at or after `since`. */
export async function estateOverview(db: Executor, since: Date): Promise<EstateOverview> {
  try {
    const result = await sql<Record<string, string | number>>`
      SELECT
        (SELECT count(*) FROM meters WHERE is_active) AS meters_total,
        (SELECT count(*) FROM meters WHERE is_active AND communication_status = 'online') AS meters_online,
        (SELECT count(*) FROM meters WHERE is_active AND communication_status = 'offline') AS meters_offline,
        (SELECT count(*) FROM meters WHERE is_active AND communication_status NOT IN ('online', 'offline')) AS meters_unknown,
        (SELECT count(*) FROM meters WHERE is_active AND relay_state = 'off') AS meters_relay_off,
        (SELECT count(*) FROM device_commands WHERE status IN ${open}) AS commands_in_flight,
        (SELECT count(*) FROM device_commands WHERE status = 'sent' AND delivery_state = 'awaiting_device') AS commands_awaiting_device,
        (SELECT count(*) FROM device_commands WHERE status = 'sent' AND delivery_state = 'unknown') AS commands_delivery_unknown,
        (SELECT count(*) FROM device_commands WHERE (status = 'failed' AND failed_at >= ${since}) OR (status = 'expired' AND expired_at >= ${since})) AS commands_failed,
        (SELECT count(*) FROM quarantine WHERE status = 'new') AS quarantine_new`.execute(db);
    const row = result.rows[0] ?? {};
    // count(*) is bigint: node-postgres returns it as text, PGlite and the Data API as numbers.
    const n = (key: string) => Number(row[key] ?? 0);
    return {
      meters: { total: n('meters_total'), online: n('meters_online'), offline: n('meters_offline'), unknown: n('meters_unknown'), relayOff: n('meters_relay_off') },
      commands: { inFlight: n('commands_in_flight'), awaitingDevice: n('commands_awaiting_device'), deliveryUnknown: n('commands_delivery_unknown'), failedSince: n('commands_failed') },
      quarantine: { new: n('quarantine_new') },
    };
  } catch (error) {
    throw mapDbError(error, 'overview query');
  }
}
