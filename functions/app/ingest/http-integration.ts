// ChirpStack's HTTP integration (POST ?event=up|status|join|ack|txack|log, JSON marshaler): the way in for
// networks too large for one MQTT connection (IoT Core allows 100 publishes/s per connection). The body is
// turned into the same inbound message the MQTT path produces, under the topic ChirpStack would have
// used, and handed on: to the ingest queue in the cloud, to the local batcher on one machine.
import { timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import * as z from 'zod';
import { eventTypes } from '#domain/chirpstack/events';
import { chirpstackTopic, wireDevEuiSchema } from '#domain/topics';
import type { Logger } from '#shared/logger';
import { readBody } from '../http/kit.ts';
import { problemResponse, toProblem } from '../http/problem.ts';
import { IntegrationDisabledError, IntegrationEventTypeError, IntegrationTokenError } from './errors.ts';
import type { InboundMessage } from './inbound.ts';

const querySchema = z.object({ event: z.enum(eventTypes) });
const devEuiOf = z.object({ deviceInfo: z.object({ applicationId: z.string().default('unknown'), devEui: wireDevEuiSchema }) });

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function inboundFromHttpIntegration(event: APIGatewayProxyEventV2, expectedToken: string | undefined, now: Date): InboundMessage {
  if (!expectedToken) throw new IntegrationDisabledError('the ChirpStack HTTP integration is not enabled (set CHIRPSTACK_HTTP_INTEGRATION_TOKEN)');
  const headers = Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v ?? '']));
  const given = headers['x-quantify-token'] || /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1] || '';
  if (!given) throw new IntegrationTokenError('send the integration token as "Authorization: Bearer <token>" or "X-Quantify-Token"');
  if (!sameToken(given, expectedToken)) throw new IntegrationTokenError('the integration token is not valid');
  const query = querySchema.safeParse(event.queryStringParameters ?? {});
  if (!query.success) throw new IntegrationEventTypeError(`query parameter event must be one of ${eventTypes.join(', ')}`);
  const raw = readBody(event);
  let topic = `integrations/chirpstack/${query.data.event}`;
  try {
    const ids = devEuiOf.safeParse(JSON.parse(raw.toString('utf8')));
    if (ids.success) topic = chirpstackTopic(ids.data.deviceInfo.applicationId, ids.data.deviceInfo.devEui, query.data.event);
  } catch {
    // Not JSON: kept under the integration topic, and the ingest handler quarantines it with its reason.
  }
  return { id: event.requestContext.requestId, topic, payload: raw, receivedAt: now, source: 'http' };
}

/** The endpoint, given where accepted messages go. Answers 202 once the message is durably handed on. */
export function httpIntegrationHandler(options: {
  token: () => Promise<string | undefined>;
  accept: (message: InboundMessage) => Promise<void>;
  logger: Logger;
  now: () => Date;
}) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> => {
    try {
      const message = inboundFromHttpIntegration(event, await options.token(), options.now());
      await options.accept(message);
      return { statusCode: 202, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'accepted', topic: message.topic }) };
    } catch (error) {
      const problem = toProblem(error, event.rawPath);
      if (problem.status >= 500) options.logger.error('chirpstack http integration failed', { error: error as Error });
      return problemResponse(problem);
    }
  };
}
