import { describe, expect, it } from 'vitest';
import { topicMatches } from '#domain/topics';
import { httpRouteFor, routeFor } from '#shared/routes';

describe('route table', () => {
  it('matches MQTT wildcards the way brokers do', () => {
    expect(topicMatches('application/+/device/+/event/+', 'application/a/device/0102/event/up')).toBe(true);
    expect(topicMatches('application/+/device/+/event/+', 'application/a/device/0102/event')).toBe(false);
    expect(topicMatches('smartmeter/#', 'smartmeter/M1/command/balance')).toBe(true);
  });

  it('routes ChirpStack and ESP32 topics to their handlers', () => {
    expect(routeFor('application/x/device/0101010101010101/event/up')?.handler).toBe('chirpstack');
    expect(routeFor('smartmeter/METER001/consumption')?.handler).toBe('esp32');
    expect(routeFor('smartmeter/METER001/command/balance')).toBeUndefined();
  });

  it('keeps health and integrations outside the JWT authorizer', () => {
    expect(httpRouteFor('GET', '/health')?.auth).toBe('none');
    expect(httpRouteFor('POST', '/integrations/chirpstack')?.target).toBe('chirpstack_http');
    expect(httpRouteFor('GET', '/meters')?.auth).toBe('jwt');
  });
});

describe('IoT rule SQL', () => {
  it('passes each message on base64-encoded with its topic, in the envelope the ingest queue parses', async () => {
    const { topicRoutes } = await import('#shared/routes');
    const { queueBodySchema } = await import('#app/ingest/inbound');
    for (const route of topicRoutes) {
      expect(route.iotSql).toBe(`SELECT encode(*, 'base64') AS payloadBase64, topic() AS topic, timestamp() AS receivedAt FROM '${route.topicFilter}'`);
    }
    // What such a rule sends to SQS for a ChirpStack uplink.
    expect(queueBodySchema.safeParse({ payloadBase64: Buffer.from('{"a":1}').toString('base64'), topic: 'application/a/device/0101010101010101/event/up', receivedAt: 1700000000000 }).success).toBe(true);
  });
});
