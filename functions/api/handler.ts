// Lambda entry: the HTTP API behind API Gateway (payload 2.0, JWT authorizer).
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { cloudDb } from '#adapters/cloud';
import { cloudDarajaClient } from '#adapters/daraja-cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { apiRoutes, createApiHandler } from '#app/api/index';
import { balanceControlEvents } from '#app/billing/job';
import { ingestBatch } from '#app/ingest/ingest';
import { ingestWithCommands } from '#app/ingest/with-commands';
import type { PaymentProvider } from '#app/payments/ports';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { clockPolicyOf, resyncPolicyOf, lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';
import { UnavailableError } from '#shared/errors';

const config = lambdaConfig();
const db = cloudDb(config);

const now = () => new Date();
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);
// Reprocessing a quarantined message may confirm a command or queue a display actuation.
const ingestDeps = ingestWithCommands({ db, logger, now, commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS, clock: clockPolicyOf(config), resync: resyncPolicyOf(config) });

// STK Push reaches Daraja through a client built on first use (its credentials are in Secrets Manager).
const provider: PaymentProvider = {
  stkPush: async (request) => (await required()).stkPush(request),
  stkQuery: async (id) => (await required()).stkQuery(id),
  pullTransactions: async (from, to) => (await required()).pullTransactions(from, to),
  registerC2bUrls: async (urls) => (await required()).registerC2bUrls(urls),
};
async function required() {
  const client = await cloudDarajaClient(config);
  if (!client) throw new UnavailableError('M-Pesa is not configured (DARAJA_BASE_URL, DARAJA_PUBLIC_URL and the Daraja secret)');
  return client;
}

const api = createApiHandler(
  {
    db,
    logger,
    now,
    healthChecks: {},
    ingest: (messages) => ingestBatch(ingestDeps, messages),
    commandQueue,
    commandExpiryHours: config.COMMAND_EXPIRY_HOURS,
    payments: { provider, currency: config.PAYMENTS_CURRENCY, events: balanceControlEvents({ db, logger, now, commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS }) },
  },
  apiRoutes(),
);

// What a request changes (a suspense allocation, a parking override or reservation, an STK Push) is announced
// on the portal's live channel after it ran, as the other Lambdas do; reads change nothing and are not.
const announced = withLiveAnnouncements({ db, live: cloudLiveEvents(config), logger, now }, (event: APIGatewayProxyEventV2, context: Context) => api(event, context));
export const handler = (event: APIGatewayProxyEventV2, context: Context) => (event.requestContext.http.method === 'GET' ? api(event, context) : announced(event, context));
