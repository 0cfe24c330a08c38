// Lambda entry: Daraja's callbacks (C2B validation/confirmation, STK callback, results) behind API Gateway
// without the JWT authorizer; the secret path token comes from Secrets Manager.
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { balanceControlEvents } from '#app/billing/job';
import { darajaSecret } from '#adapters/daraja-cloud';
import { emfMetrics, withMetrics } from '#adapters/emf-metrics';
import { darajaCallbackHandler } from '#app/payments/callbacks';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };
// A credit reconnects the account's meters and pushes ESP32 balances (balance control).
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);
const metrics = emfMetrics();

export const handler = withMetrics(
  metrics,
  withLiveAnnouncements(live, darajaCallbackHandler({
  db,
  logger,
  now: () => new Date(),
  // A missing secret enables nothing: every callback path answers 404.
  token: async () => (await darajaSecret(config))?.callbackToken,
  ...(config.DARAJA_ALLOWED_IPS ? { allowedIps: config.DARAJA_ALLOWED_IPS } : {}),
  currency: config.PAYMENTS_CURRENCY,
  events: balanceControlEvents({ db, logger, now: () => new Date(), commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS }),
  metrics,
  })),
);
