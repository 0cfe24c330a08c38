// Lambda entry: the decoder behind the ingest SQS queue (IoT topic rules and the HTTP integration feed it).
// Confirmations found in a batch (txack, ack, Modbus echoes, ESP32 balance reports) are applied to the
// command lifecycle; display commands created by occupancy changes go straight onto the command queue.
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { enqueueOrLeaveToSweeper } from '#app/commands/enqueue';
import { applyFeedback } from '#app/commands/feedback';
import { createIngestQueueHandler } from '#app/ingest/queue';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const now = () => new Date();
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);

export const handler = createIngestQueueHandler({
  db,
  logger,
  now,
  commandExpiryHours: config.COMMAND_EXPIRY_HOURS,
  onFeedback: async (feedback) => {
    await applyFeedback({ db, logger, now }, feedback);
  },
  onCommandsCreated: (ids) => enqueueOrLeaveToSweeper({ db, logger, now, commandQueue }, ids),
});
