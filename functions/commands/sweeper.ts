// Lambda entry: the command sweeper (EventBridge Scheduler, see scheduledJobs): expires stale commands and
// re-enqueues those that are due but not in the queue.
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { sweep, type SweepResult } from '#app/commands/sweeper';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);

export const handler = withLiveAnnouncements(live, async (): Promise<SweepResult> => sweep({ db, logger, commandQueue }, new Date()));
