// Meters as the scheduled jobs see them: their communication status, judged from when their current
// device was last heard.
import { sql } from 'kysely';
import type { Executor } from '#store/db';

/**
 * Marks offline, in one statement, every meter whose active current device has not been heard for
 * longer than `missedUplinks` of its expected uplink intervals (devices.expected_uplink_interval_s).
 * A device never heard counts from the meter's last reading, or else from when it was installed.
 * Returns the meter numbers marked.
 */
export async function markSilentMetersOffline(db: Executor, now: Date, missedUplinks: number): Promise<string[]> {
  const result = await sql<{ meter_no: string }>`
    UPDATE meters m
    SET communication_status = 'offline', updated_at = ${now}
    FROM meter_current_device md
    JOIN devices d ON d.id = md.device_id
    WHERE md.meter_id = m.id
      AND m.communication_status <> 'offline'
      AND d.lifecycle = 'active'
      AND d.expected_uplink_interval_s IS NOT NULL
      AND COALESCE(d.last_seen_at, m.last_reading_date, md.valid_from)
          < ${now}::timestamptz - make_interval(secs => d.expected_uplink_interval_s * ${missedUplinks})
    RETURNING m.meter_no`.execute(db);
  return result.rows.map((r) => r.meter_no);
}

/** Meters by communication status (online, offline, unknown), for the connected-meters gauge at GET /metrics. */
export async function meterCountsByStatus(db: Executor): Promise<Record<string, number>> {
  const result = await sql<{ communication_status: string; n: string | number }>`
    SELECT communication_status, count(*) AS n FROM meters GROUP BY communication_status`.execute(db);
  return Object.fromEntries(result.rows.map((r) => [r.communication_status, Number(r.n)]));
}
