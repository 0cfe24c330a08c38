// The first step of ingestion: an inbound message, by its topic and body, becomes a typed ChirpStack
// event or ESP32 message, or a quarantine request with its reason. Pure: no database, no clock (the
// reported time is checked against the message's receive time, see domain/clock.ts).
import { parseChirpstackEvent, type ChirpstackEvent } from '#domain/chirpstack/events';
import { checkClock, defaultClockPolicy, type ClockCorrection, type ClockPolicy } from '#domain/clock';
import { parseEsp32, type Esp32Message } from '#domain/esp32';
import { jsonTextDepth, maxJsonDepth } from '#domain/text';
import { esp32MeterNoOf, esp32Root, parseChirpstackTopic } from '#domain/topics';
import { inboundLimitBytes } from '#domain/device-access';
import { payloadBuffer, type InboundMessage } from './inbound.ts';

/** A message to keep in the quarantine, with why (reasonCode for machines, reason for people). */
export interface QuarantineRequest {
  msg: InboundMessage;
  reasonCode: string;
  reason: string;
  devEui?: string;
  meterNo?: string;
  /** What makes a redelivery the same row; the message digest when not given. */
  dedupKey?: string;
}

export type Classified =
  /** A ChirpStack event; its `time`, when too far ahead, already replaced by the receive time (`clock` says so). */
  | { kind: 'chirpstack'; msg: InboundMessage; devEui: string; value: ChirpstackEvent; clock?: ClockCorrection }
  /**
   * An ESP32 message. `at` is when it happened: its timestamp, or the receive time when that is too far
   * ahead (`clock` says so); `value.body.timestamp` stays what the meter sent, which keys its redeliveries.
   */
  | { kind: 'esp32'; msg: InboundMessage; value: Esp32Message; at: Date; clock?: ClockCorrection }
  | ({ kind: 'quarantine' } & QuarantineRequest);

function parseJson(payload: Uint8Array): { ok: true; value: unknown } | { ok: false; tooDeep: boolean } {
  const text = payloadBuffer(payload).toString('utf8');
  // Bounded before parsing: a value nested thousands deep overflows the stack of whatever walks it next.
  if (jsonTextDepth(text, maxJsonDepth) > maxJsonDepth) return { ok: false, tooDeep: true };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, tooDeep: false };
  }
}

export function classify(msg: InboundMessage, clock: ClockPolicy = defaultClockPolicy): Classified {
  if (msg.topic === 'queue/malformed') {
    return { kind: 'quarantine', msg, reasonCode: 'malformed_queue_message', reason: 'queue message body is not a {topic, payloadBase64} envelope' };
  }
  if (msg.topic.startsWith('integrations/chirpstack/')) {
    return { kind: 'quarantine', msg, reasonCode: 'malformed_event', reason: 'HTTP integration body is not a ChirpStack event with deviceInfo.devEui' };
  }
  const cs = parseChirpstackTopic(msg.topic);
  const esp32 = msg.topic.startsWith(`${esp32Root}/`);
  if (!cs && !esp32) return { kind: 'quarantine', msg, reasonCode: 'unknown_topic', reason: `no handler for topic ${msg.topic}` };
  const meterNo = esp32MeterNoOf(msg.topic);
  const device = cs ? { devEui: cs.devEui } : meterNo ? { meterNo } : {};
  // Bounded before parsing: what no meter or LoRaWAN event can be is kept truncated, not decoded.
  const limit = inboundLimitBytes(msg.topic);
  if (msg.payload.length > limit) return { kind: 'quarantine', msg, reasonCode: 'payload_too_large', reason: `payload of ${msg.payload.length} bytes is over the ${limit}-byte limit for this source`, ...device };
  const body = parseJson(msg.payload);
  if (!body.ok) {
    if (body.tooDeep) return { kind: 'quarantine', msg, reasonCode: 'json_too_deep', reason: `payload JSON nests deeper than ${maxJsonDepth} levels`, ...device };
    return { kind: 'quarantine', msg, reasonCode: 'malformed_json', reason: 'payload is not valid JSON', ...device };
  }
  if (cs) {
    const parsed = parseChirpstackEvent(cs.type, body.value);
    if (!parsed.ok) return { kind: 'quarantine', msg, reasonCode: 'malformed_event', reason: parsed.reason, devEui: cs.devEui };
    if (parsed.value.event.deviceInfo.devEui !== cs.devEui) {
      return { kind: 'quarantine', msg, reasonCode: 'topic_mismatch', reason: `deviceInfo.devEui ${parsed.value.event.deviceInfo.devEui} does not match the topic's ${cs.devEui}`, devEui: cs.devEui };
    }
    const time = parsed.value.event.time;
    if (!time) return { kind: 'chirpstack', msg, devEui: cs.devEui, value: parsed.value };
    const checked = checkClock(time, msg.receivedAt, clock);
    if (!checked.ok) return { kind: 'quarantine', msg, reasonCode: 'future_time', reason: checked.reason, devEui: cs.devEui };
    if (!checked.correction) return { kind: 'chirpstack', msg, devEui: cs.devEui, value: parsed.value };
    const value = { ...parsed.value, event: { ...parsed.value.event, time: checked.time } } as ChirpstackEvent;
    return { kind: 'chirpstack', msg, devEui: cs.devEui, value, clock: checked.correction };
  }
  const parsed = parseEsp32(msg.topic, body.value);
  if (!parsed.ok) return { kind: 'quarantine', msg, reasonCode: 'malformed_message', reason: parsed.reason, ...(parsed.meterNo ? { meterNo: parsed.meterNo } : {}) };
  const checked = checkClock(parsed.value.body.timestamp, msg.receivedAt, clock);
  if (!checked.ok) return { kind: 'quarantine', msg, reasonCode: 'future_time', reason: checked.reason, meterNo: parsed.value.meterNo };
  return { kind: 'esp32', msg, value: parsed.value, at: checked.time, ...(checked.correction ? { clock: checked.correction } : {}) };
}

/** The device a topic names, as far as it can be read, for a quarantine row (whatever the message). */
export function topicDevice(topic: string): { devEui?: string; meterNo?: string } {
  const devEui = parseChirpstackTopic(topic)?.devEui;
  const meterNo = esp32MeterNoOf(topic);
  return { ...(devEui ? { devEui } : {}), ...(meterNo ? { meterNo } : {}) };
}
