// Scheduled job: mark meters offline when their device misses its expected uplinks. A meter is offline
// when its current device has not been heard for longer than its expected interval times a grace
// factor (devices.expected_uplink_interval_s, from the device type's default or the registry). One
// statement; meters come back online with their next reading.
import { sql } from 'kysely';
import type { Db } from '#store/db';

/** Missing this many expected uplinks in a row makes a meter offline. */
export const MISSED_UPLINKS = 3;

export async function markOfflineMeters(db: Db, now: Date): Promise<{ markedOffline: string[] }> {
  const result = await sql<{ meter_no: string }>`
    UPDATE meters m
    SET communication_status = 'offline', updated_at = ${now}
    FROM meter_devices md
    JOIN devices d ON d.id = md.device_id
    WHERE md.meter_id = m.id AND md.valid_to IS NULL
      AND m.communication_status <> 'offline'
      AND d.lifecycle = 'active'
      AND d.expected_uplink_interval_s IS NOT NULL
      AND COALESCE(d.last_seen_at, m.last_reading_date, md.valid_from)
          < ${now}::timestamptz - make_interval(secs => d.expected_uplink_interval_s * ${MISSED_UPLINKS})
    RETURNING m.meter_no`.execute(db);
  return { markedOffline: result.rows.map((r) => r.meter_no) };
}
