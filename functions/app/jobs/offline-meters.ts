// Scheduled job: mark meters offline when their device misses its expected uplinks. A meter is offline
// when its current device has not been heard for longer than its expected interval times a grace
// factor (devices.expected_uplink_interval_s, from the device type's default or the registry). One
// statement; meters come back online with their next reading.
import type { Db } from '#store/db';
import { markSilentMetersOffline } from '#store/meters';

/** Missing this many expected uplinks in a row makes a meter offline. */
export const MISSED_UPLINKS = 3;

export async function markOfflineMeters(db: Db, now: Date): Promise<{ markedOffline: string[] }> {
  return { markedOffline: await markSilentMetersOffline(db, now, MISSED_UPLINKS) };
}
