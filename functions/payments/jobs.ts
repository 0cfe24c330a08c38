// Lambda entry: the M-Pesa jobs EventBridge Scheduler runs (see scheduledJobs): STK Query for requests
// pending past a few minutes, and the Pull Transactions reconciliation.
import * as z from 'zod';
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { balanceControlEvents } from '#app/billing/job';
import { cloudDarajaClient } from '#adapters/daraja-cloud';
import { emfMetrics, withMetrics } from '#adapters/emf-metrics';
import { queryPendingStk, reconcile } from '#app/payments/stk';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);
const metrics = emfMetrics();
const eventSchema = z.object({ job: z.enum(['stk_query', 'daraja_reconcile']) });

export const handler = withMetrics(metrics, withLiveAnnouncements(live, run));

async function run(event: unknown): Promise<unknown> {
  const { job } = eventSchema.parse(event);
  const provider = await cloudDarajaClient(config);
  if (!provider) {
    logger.warn('M-Pesa is not configured (DARAJA_BASE_URL, DARAJA_PUBLIC_URL and the Daraja secret); job skipped', { job });
    return { skipped: true };
  }
  const now = () => new Date();
  const deps = { db, logger, now, provider, currency: config.PAYMENTS_CURRENCY, metrics, events: balanceControlEvents({ db, logger, now, commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS }) };
  if (job === 'stk_query') return queryPendingStk(deps);
  const report = await reconcile(deps);
  return { seen: report.seen, credited: report.credited, suspense: report.suspense, mismatches: report.mismatches.length };
}
