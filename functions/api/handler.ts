// Lambda entry: the HTTP API behind API Gateway (payload 2.0, JWT authorizer).
import { cloudDb } from '#adapters/cloud';
import { apiRoutes, createApiHandler } from '#app/api/index';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

export const handler = createApiHandler({ db, logger, now: () => new Date(), healthChecks: {} }, apiRoutes());
