// Lambda entry: the scheduled billing job (EventBridge Scheduler, see scheduledJobs).
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { billingJob } from '#app/billing/job';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);

export const handler = withLiveAnnouncements(live, async (): Promise<{ runId: string; status: string; meters: number; entriesPosted: number; fixedEntriesPosted: number }> => {
  const { run } = await billingJob({ db, logger, now: () => new Date(), commandQueue }, { trigger: 'schedule' });
  return { runId: run.id, status: run.status, meters: run.metersSeen, entriesPosted: run.entriesPosted, fixedEntriesPosted: run.fixedEntriesPosted };
});
