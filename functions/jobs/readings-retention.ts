// Lambda entry: the raw readings' retention (EventBridge Scheduler, see scheduledJobs).
import { cloudDb } from '#adapters/cloud';
import { pruneOldReadings } from '#app/jobs/readings-retention';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

export async function handler(): Promise<{ deleted: number }> {
  const { deleted } = await pruneOldReadings({ db, logger, retentionDays: config.READINGS_RETENTION_DAYS }, new Date());
  return { deleted };
}
