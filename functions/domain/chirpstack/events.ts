// ChirpStack v4 integration events (MQTT `application/{applicationId}/device/{devEui}/event/{type}` and
// the HTTP integration's `?event=type`), JSON marshaler, with ChirpStack's own field names. Source:
// chirpstack/chirpstack api/proto/integration/integration.proto and the docs' integrations/events.md
// (vectors in shared/vectors/chirpstack_events.json). Proto3 JSON omits zero values in older versions,
// so absent numeric fields take their protobuf default.
import * as z from 'zod';
import { formatIssues } from '../issues.ts';
import { wireDevEuiSchema } from '../topics.ts';

export const eventTypes = ['up', 'status', 'join', 'ack', 'txack', 'log', 'location', 'integration'] as const;
export type ChirpstackEventType = (typeof eventTypes)[number];

const time = z.iso.datetime({ offset: true, local: false }).transform((s) => new Date(s));

export const deviceInfoSchema = z.looseObject({
  tenantId: z.string().optional(),
  tenantName: z.string().optional(),
  applicationId: z.string().default(''),
  applicationName: z.string().optional(),
  deviceProfileId: z.string().optional(),
  deviceProfileName: z.string().optional(),
  deviceName: z.string().optional(),
  devEui: wireDevEuiSchema,
  tags: z.record(z.string(), z.string()).optional(),
});

const rxInfoSchema = z.looseObject({
  gatewayId: z.string().optional(),
  uplinkId: z.number().optional(),
  rssi: z.number().default(0),
  snr: z.number().default(0),
});

const base = z.looseObject({ deviceInfo: deviceInfoSchema, time: time.optional() });

export const upEventSchema = base.extend({
  deduplicationId: z.string().min(1),
  devAddr: z.string().optional(),
  adr: z.boolean().optional(),
  dr: z.number().int().default(0),
  fCnt: z.number().int().nonnegative().default(0),
  fPort: z.number().int().min(0).max(255).default(0),
  confirmed: z.boolean().optional(),
  data: z.base64().default(''),
  object: z.record(z.string(), z.unknown()).optional(),
  rxInfo: z.array(rxInfoSchema).default([]),
  txInfo: z.looseObject({}).optional(),
});
export type UpEvent = z.infer<typeof upEventSchema>;

export const statusEventSchema = base.extend({
  deduplicationId: z.string().min(1).optional(),
  margin: z.number().int().default(0),
  externalPowerSource: z.boolean().default(false),
  batteryLevelUnavailable: z.boolean().default(false),
  batteryLevel: z.number().default(0),
});

export const joinEventSchema = base.extend({ deduplicationId: z.string().min(1).optional(), devAddr: z.string().optional() });

export const ackEventSchema = base.extend({
  queueItemId: z.string().min(1),
  acknowledged: z.boolean().default(false),
  fCntDown: z.number().int().default(0),
});
export type AckEvent = z.infer<typeof ackEventSchema>;

export const txAckEventSchema = base.extend({
  downlinkId: z.number().int().default(0),
  queueItemId: z.string().min(1),
  fCntDown: z.number().int().default(0),
  gatewayId: z.string().optional(),
  txInfo: z.looseObject({}).optional(),
});
export type TxAckEvent = z.infer<typeof txAckEventSchema>;

export const logEventSchema = base.extend({
  level: z.enum(['INFO', 'WARNING', 'ERROR']).default('INFO'),
  code: z.string().default('UNKNOWN'),
  description: z.string().default(''),
  context: z.record(z.string(), z.string()).optional(),
});

export const locationEventSchema = base.extend({
  deduplicationId: z.string().min(1).optional(),
  location: z.looseObject({ latitude: z.number(), longitude: z.number(), altitude: z.number().default(0) }),
});

export const integrationEventSchema = base.extend({
  deduplicationId: z.string().optional(),
  integrationName: z.string().default(''),
  eventType: z.string().default(''),
  object: z.unknown().optional(),
});

export const eventSchemas = {
  up: upEventSchema,
  status: statusEventSchema,
  join: joinEventSchema,
  ack: ackEventSchema,
  txack: txAckEventSchema,
  log: logEventSchema,
  location: locationEventSchema,
  integration: integrationEventSchema,
} as const;

export type ChirpstackEvent =
  | { type: 'up'; event: UpEvent }
  | { type: 'status'; event: z.infer<typeof statusEventSchema> }
  | { type: 'join'; event: z.infer<typeof joinEventSchema> }
  | { type: 'ack'; event: AckEvent }
  | { type: 'txack'; event: TxAckEvent }
  | { type: 'log'; event: z.infer<typeof logEventSchema> }
  | { type: 'location'; event: z.infer<typeof locationEventSchema> }
  | { type: 'integration'; event: z.infer<typeof integrationEventSchema> };

export type ParseResult = { ok: true; value: ChirpstackEvent } | { ok: false; reason: string };

/** Validate an event body of the given type (from the topic or the HTTP integration's ?event=). */
export function parseChirpstackEvent(type: string, body: unknown): ParseResult {
  if (!(eventTypes as readonly string[]).includes(type)) return { ok: false, reason: `unsupported ChirpStack event type '${type}'` };
  const schema = eventSchemas[type as ChirpstackEventType];
  const result = schema.safeParse(body);
  if (!result.success) {
    return { ok: false, reason: `invalid ${type} event: ${formatIssues(result.error, '(root)', 5)}` };
  }
  return { ok: true, value: { type, event: result.data } as ChirpstackEvent };
}

/** The best gateway's signal: highest SNR, then RSSI (the seed stores one rssi/snr per reading). */
export function bestSignal(rxInfo: { rssi: number; snr: number }[]): { rssi: number; snr: number } | undefined {
  let best: { rssi: number; snr: number } | undefined;
  for (const rx of rxInfo) if (!best || rx.snr > best.snr || (rx.snr === best.snr && rx.rssi > best.rssi)) best = rx;
  return best ? { rssi: best.rssi, snr: best.snr } : undefined;
}
