// ChirpStack v4 event builders (JSON marshaler, the shape of the docs' examples in
// test/fixtures/vectors/chirpstack_events.json) for tests and benchmarks.
import { randomUUID } from 'node:crypto';
import type { InboundMessage } from '#app/ingest/inbound';
import { chirpstackTopic } from '#domain/topics';

export const applicationId = '17c82e96-be03-4f38-aef3-f83d48582d97';

interface UpInput {
  devEui: string;
  fPort: number;
  hex: string;
  fCnt?: number;
  time?: Date;
  deduplicationId?: string;
  object?: Record<string, unknown>;
  rssi?: number;
  snr?: number;
}

export function upEvent(input: UpInput) {
  return {
    deduplicationId: input.deduplicationId ?? randomUUID(),
    time: (input.time ?? new Date()).toISOString(),
    deviceInfo: {
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
      tenantName: 'ChirpStack',
      applicationId,
      applicationName: 'Quantify',
      deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
      deviceProfileName: 'profile',
      deviceName: `dev-${input.devEui}`,
      devEui: input.devEui,
      tags: {},
    },
    devAddr: '00189440',
    adr: true,
    dr: 5,
    fCnt: input.fCnt ?? 1,
    fPort: input.fPort,
    confirmed: false,
    data: Buffer.from(input.hex.replace(/\s+/g, ''), 'hex').toString('base64'),
    ...(input.object ? { object: input.object } : {}),
    rxInfo: [
      { gatewayId: '0016c001f153a14c', uplinkId: 1, rssi: input.rssi ?? -80, snr: input.snr ?? 7.5, context: 'E3OWOQ==' },
      { gatewayId: '0016c001f153a14d', uplinkId: 2, rssi: -110, snr: -3 },
    ],
    txInfo: { frequency: 868100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } } },
  };
}

export const upTopic = (devEui: string, type = 'up') => chirpstackTopic(applicationId, devEui, type);

let sequence = 0;
export function inbound(topic: string, body: unknown, receivedAt = new Date()): InboundMessage {
  const payload = typeof body === 'string' ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
  return { id: `m${++sequence}`, topic, payload, receivedAt, source: 'mqtt' };
}

export const upMessage = (input: UpInput) => inbound(upTopic(input.devEui), upEvent(input));

export const randomEui = () => Array.from({ length: 16 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
