// Lambda entry: the scheduled offline-meter check (EventBridge Scheduler, see scheduledJobs).
import { cloudDb } from '#adapters/cloud';
import { markOfflineMeters } from '#app/jobs/offline-meters';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

export async function handler(): Promise<{ markedOffline: number }> {
  const { markedOffline } = await markOfflineMeters({ db, logger }, new Date());
  return { markedOffline: markedOffline.length };
}
