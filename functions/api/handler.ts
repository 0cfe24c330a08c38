// Lambda entry: the HTTP API behind API Gateway (payload 2.0, JWT authorizer).
import { cloudDb } from '#adapters/cloud';
import { apiRoutes, createApiHandler } from '#app/api/index';
import { ingestBatch } from '#app/ingest/ingest';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

const now = () => new Date();
const ingestDeps = { db, logger, now, commandExpiryHours: config.COMMAND_EXPIRY_HOURS };

export const handler = createApiHandler({ db, logger, now, healthChecks: {}, ingest: (messages) => ingestBatch(ingestDeps, messages) }, apiRoutes());
