// Lambda entry: ChirpStack's HTTP integration endpoint. Checks the shared token, then puts the event on
// the ingest queue in the same envelope the IoT rules produce; the queue's decoder Lambda does the rest.
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { secretText } from '#adapters/secrets';
import { httpIntegrationHandler } from '#app/ingest/http-integration';
import { toQueueBody } from '#app/ingest/inbound';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const sqs = new SQSClient({});
const queueUrl = config.INGEST_QUEUE_URL;
const tokenSecret = config.CHIRPSTACK_HTTP_INTEGRATION_TOKEN_SECRET_ARN;

export const handler = httpIntegrationHandler({
  logger,
  now: () => new Date(),
  // A secret that is missing, binary or blank enables nothing: the endpoint then answers 403.
  token: () => secretText(tokenSecret),
  accept: async (message) => {
    if (!queueUrl) throw new Error('INGEST_QUEUE_URL is not configured');
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(toQueueBody(message.topic, message.payload, message.receivedAt)) }));
  },
});
