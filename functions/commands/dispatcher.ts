// Lambda entry: the command dispatcher behind the command SQS queue (batches of command ids, partial
// batch failures). Sends LoRaWAN downlinks through ChirpStack's REST API and ESP32 commands through the
// IoT data plane.
import { ChirpStackClient } from '#adapters/chirpstack-client';
import { cloudLiveEvents } from '#adapters/appsync-events';
import { withLiveAnnouncements } from '#app/portal/live-events';
import { cloudDb } from '#adapters/cloud';
import { emfMetrics, withMetrics } from '#adapters/emf-metrics';
import { secretText } from '#adapters/secrets';
import { iotDataClient, iotDevicePublisher } from '#adapters/device-publisher';
import { createCommandQueueHandler } from '#app/commands/queue-handler';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const metrics = emfMetrics();
const db = cloudDb(config);
const live = { db, live: cloudLiveEvents(config), logger, now: () => new Date() };
const publisher = iotDevicePublisher(iotDataClient(config.IOT_DATA_ENDPOINT));
const chirpstackUrl = config.CHIRPSTACK_API_URL;
const apiKeySecret = config.CHIRPSTACK_API_KEY_SECRET_ARN;

let client: { key: string; api: ChirpStackClient } | undefined;

/** The ChirpStack client for the current API key (a rotated key is picked up within five minutes). */
async function network(): Promise<ChirpStackClient | undefined> {
  if (!chirpstackUrl || !apiKeySecret) return undefined;
  const key = await secretText(apiKeySecret);
  if (!key) throw new Error('the ChirpStack API key secret is empty');
  if (client?.key !== key) client = { key, api: new ChirpStackClient({ baseUrl: chirpstackUrl, apiKey: key }) };
  return client.api;
}

export const handler = withMetrics(
  metrics,
  withLiveAnnouncements(live, createCommandQueueHandler(async () => {
  const api = await network();
  return { db, logger, now: () => new Date(), publisher, metrics, ...(api ? { network: api } : {}) };
}, logger)),
);
