// Lambda entry: the scheduled offline-meter check (EventBridge Scheduler, see scheduledJobs).
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { markOfflineMeters } from '#app/jobs/offline-meters';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };

export const handler = withLiveAnnouncements(live, async (): Promise<{ markedOffline: number }> => {
  const { markedOffline } = await markOfflineMeters({ db, logger }, new Date());
  return { markedOffline: markedOffline.length };
});
