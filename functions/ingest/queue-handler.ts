// Lambda entry: the decoder behind the ingest SQS queue (IoT topic rules and the HTTP integration feed it).
// Confirmations found in a batch (txack, ack, Modbus echoes, ESP32 balance reports) are applied to the
// command lifecycle; display commands created by occupancy changes go straight onto the command queue.
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { emfMetrics, withMetrics } from '#adapters/emf-metrics';
import { sqsCommandQueue } from '#adapters/command-queue';
import { createIngestQueueHandler } from '#app/ingest/queue';
import { ingestWithCommands } from '#app/ingest/with-commands';
import { clockPolicyOf, resyncPolicyOf, lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const metrics = emfMetrics();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };

export const handler = withMetrics(
  metrics,
  withLiveAnnouncements(live, createIngestQueueHandler(
  ingestWithCommands({
    db,
    logger,
    now: () => new Date(),
    commandQueue: sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL),
    commandExpiryHours: config.COMMAND_EXPIRY_HOURS,
    clock: clockPolicyOf(config),
    resync: resyncPolicyOf(config),
    metrics,
  }),
  )),
);
