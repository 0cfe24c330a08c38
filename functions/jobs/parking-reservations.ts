// Lambda entry: the parking reservations job (EventBridge Scheduler, see scheduledJobs): starts
// reservations whose window opened and ends those whose window closed, queueing their display commands.
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { runReservations } from '#app/parking/parking';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);

export async function handler(): Promise<{ started: number; ended: number }> {
  return runReservations({ db, logger, now: () => new Date(), commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS }, new Date());
}
