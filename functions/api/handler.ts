// Lambda entry: the HTTP API behind API Gateway (payload 2.0, JWT authorizer).
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { apiRoutes, createApiHandler } from '#app/api/index';
import { ingestBatch } from '#app/ingest/ingest';
import { ingestWithCommands } from '#app/ingest/with-commands';
import { clockPolicyOf, lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

const now = () => new Date();
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);
// Reprocessing a quarantined message may confirm a command or queue a display actuation.
const ingestDeps = ingestWithCommands({ db, logger, now, commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS, clock: clockPolicyOf(config) });

export const handler = createApiHandler(
  { db, logger, now, healthChecks: {}, ingest: (messages) => ingestBatch(ingestDeps, messages), commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS },
  apiRoutes(),
);
