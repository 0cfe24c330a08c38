// Scheduled job: mark meters offline when their device misses its expected uplinks. A meter is offline
// when its current device has not been heard for longer than its expected interval times a grace
// factor (devices.expected_uplink_interval_s, from the device type's default or the registry). One
// statement; meters come back online with their next reading.
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import { markSilentMetersOffline } from '#store/meters';

/** Missing this many expected uplinks in a row makes a meter offline. */
export const MISSED_UPLINKS = 3;

/** Mark silent meters offline and say which (at most 50 named in the log line). */
export async function markOfflineMeters(deps: { db: Db; logger: Logger }, now: Date): Promise<{ markedOffline: string[] }> {
  const markedOffline = await markSilentMetersOffline(deps.db, now, MISSED_UPLINKS);
  if (markedOffline.length) deps.logger.warn('meters marked offline', { count: markedOffline.length, meters: markedOffline.slice(0, 50) });
  return { markedOffline };
}
