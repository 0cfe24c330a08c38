// Lambda entry: an IoT Core lifecycle event ($aws/events/presence/connected/{clientId}, through the IoT
// rule in lib/esp32-presence.ts). A meter's client id is its meter number (domain/topics meterClientId):
// when an ESP32 meter connects, it is sent its current balance (app/billing/resync.ts, debounced).
import { SQSClient } from '@aws-sdk/client-sqs';
import { cloudDb } from '#adapters/cloud';
import { sqsCommandQueue } from '#adapters/command-queue';
import { resyncOnReconnect, type ResyncOutcome } from '#app/billing/resync';
import { isMeterNo } from '#domain/topics';
import { lambdaConfig, resyncPolicyOf } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);
const commandQueue = sqsCommandQueue(new SQSClient({}), config.COMMAND_QUEUE_URL);

/** The lifecycle event's fields the rule selects (AWS IoT developer guide, "Connect/Disconnect events"). */
export interface PresenceEvent {
  clientId?: string;
  eventType?: string;
  timestamp?: number;
}

export async function handler(event: PresenceEvent): Promise<{ outcome: ResyncOutcome | 'ignored' }> {
  const clientId = event.clientId ?? '';
  if (event.eventType !== 'connected' || !isMeterNo(clientId)) return { outcome: 'ignored' };
  const outcome = await resyncOnReconnect({ db, logger, now: () => new Date(), commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS }, clientId, resyncPolicyOf(config));
  logger.info('ESP32 connected', { meterNo: clientId, outcome });
  return { outcome };
}
