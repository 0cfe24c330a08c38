// Lambda entry: the scheduled offline-meter check (EventBridge Scheduler, see scheduledJobs).
import { cloudDb } from '#adapters/cloud';
import { markOfflineMeters } from '#app/jobs/offline-meters';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

export async function handler(): Promise<{ markedOffline: number }> {
  const { markedOffline } = await markOfflineMeters(db, new Date());
  if (markedOffline.length) logger.warn('meters marked offline', { count: markedOffline.length, meters: markedOffline.slice(0, 50) });
  return { markedOffline: markedOffline.length };
}
