// Lambda entry: the decoder behind the ingest SQS queue (IoT topic rules and the HTTP integration feed it).
import { cloudDb } from '#adapters/cloud';
import { createIngestQueueHandler } from '#app/ingest/queue';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

export const handler = createIngestQueueHandler({ db, logger, now: () => new Date(), commandExpiryHours: config.COMMAND_EXPIRY_HOURS });
