// Lambda entry: the parking reservations job (EventBridge Scheduler, see scheduledJobs): starts
// reservations whose window opened and ends those whose window closed, queueing their display commands.
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { runReservations } from '#app/parking/parking';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);

export const handler = withLiveAnnouncements(live, async (): Promise<{ started: number; ended: number }> =>
  runReservations({ db, logger, now: () => new Date(), commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS }, new Date()),
);
