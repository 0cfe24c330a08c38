// What the meters send, decided by the run's PRNG: EM300-DI pulse uplinks (ChirpStack v4 up events, as
// test/support/chirpstack.ts builds them) and ESP32 consumption reports, with duplicates, reordering within
// and across batches, counter resets, 32-bit wraps and far-future times; and a QoS 1 publisher that records
// which messages the broker acknowledged (PUBACK).
import mqtt, { type MqttClient } from 'mqtt';
import { upEvent, upTopic } from '../support/chirpstack.ts';
import type { Rng } from './prng.ts';
import { sleep } from './infra.ts';

const WRAP = 2 ** 32;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

export interface TrafficShape {
  em300Devices: number;
  esp32Meters: number;
  /** Messages per device / meter. */
  perDevice: number;
  /** Probability a message is published again (half with the same deduplicationId, half with a new one). */
  duplicates: number;
  /** Probability a message is held back 1-4 positions (within a batch). */
  reorderNear: number;
  /** Probability a message is delayed 150-600 ms (across batches). */
  reorderFar: number;
  /** Probability an EM300 uplink comes after a counter reset. */
  resets: number;
  /** Start some counters just below 2^32 so they wrap. */
  wraps: boolean;
  /** Give one uplink per device a time ten years ahead. */
  farFuture: boolean;
  /** Messages per second offered. */
  rate: number;
  /** ESP32 status reports per meter whose text PostgreSQL cannot store (NUL, a lone surrogate). */
  poison?: number;
}

/** A message that must end stored as an event or quarantined, never block its batch. */
export interface PoisonMessage {
  identity: string;
  meterNo: string;
  /** The device event's source key, if it is stored as an event. */
  sourceKey: string;
}

/** One reading the platform must store exactly once, and what its stored value must be. */
export interface ExpectedReading {
  /** em:<devEui>:<fCnt> or esp:<meterNo>:<timestampMs>. */
  identity: string;
  kind: 'em300' | 'esp32';
  owner: string;
  /** The device's own order (fCnt, or the ESP32 timestamp). */
  position: number;
  /** reading_value it must have: the metered total at that position. */
  value: number;
  /**
   * Dated ten years ahead: the platform corrects its time and places it by the device's sequence (fCnt,
   * or after the meter's previous report), so its value is checked; its `position` (the time it claims)
   * is not its place in the series, so the steps check skips it.
   */
  displaced?: boolean;
}

export interface Message {
  identity: string;
  topic: string;
  payload: string;
  /** When to publish, in ms from the start of sending. */
  at: number;
}

export interface Devices {
  em300: { devEui: string; meterNo: string }[];
  esp32: { meterNo: string }[];
}

/** The run's traffic: every choice from `rng`; device times end a minute before `now`. */
export function plan(rng: Rng, shape: TrafficShape, now = Date.now()): { devices: Devices; expected: ExpectedReading[]; poison: PoisonMessage[]; messages: Message[] } {
  const devices: Devices = { em300: [], esp32: [] };
  const expected: ExpectedReading[] = [];
  const poison: PoisonMessage[] = [];
  const sequences: Omit<Message, 'at'>[][] = [];
  const base = now - shape.perDevice * 1000 - 60_000;

  for (let d = 0; d < shape.em300Devices; d++) {
    const devEui = rng.hex(8);
    devices.em300.push({ devEui, meterNo: `CH${devEui.slice(0, 12)}` });
    let count = shape.wraps && rng.chance(0.5) ? WRAP - rng.int(20, 400) : rng.int(0, 50_000);
    let total = count;
    const fCnt0 = rng.int(0, 1000);
    const futureAt = shape.farFuture ? rng.int(1, Math.max(1, Math.floor(shape.perDevice / 3))) : -1;
    const seq: Omit<Message, 'at'>[] = [];
    for (let i = 0; i < shape.perDevice; i++) {
      if (i > 0) {
        // A reset from a count the platform can tell from a wrap (not near 2^32) to one below it.
        if (count > 10 && count < WRAP * 0.8 && rng.chance(shape.resets)) {
          count = rng.int(0, 5);
          total += count;
        } else {
          const step = rng.int(0, 40);
          const next = count + step;
          count = next >= WRAP ? next - WRAP : next;
          total += step;
        }
      }
      const fCnt = fCnt0 + i;
      const time = i === futureAt ? new Date(base + i * 1000 + TEN_YEARS_MS) : new Date(base + i * 1000);
      const counter = Buffer.alloc(4);
      counter.writeUInt32LE(count);
      const hex = `01755c05c8${counter.toString('hex')}`;
      const identity = `em:${devEui}:${fCnt}`;
      expected.push({ identity, kind: 'em300', owner: devEui, position: fCnt, value: total / 1000, ...(i === futureAt ? { displaced: true } : {}) });
      const deduplicationId = rng.uuid();
      seq.push({ identity, topic: upTopic(devEui), payload: JSON.stringify(upEvent({ devEui, fPort: 85, hex, fCnt, time, deduplicationId })) });
    }
    sequences.push(seq);
  }

  for (let m = 0; m < shape.esp32Meters; m++) {
    const meterNo = `CE${rng.hex(6)}`;
    devices.esp32.push({ meterNo });
    let total = 0;
    const futureAt = shape.farFuture ? rng.int(1, Math.max(1, Math.floor(shape.perDevice / 3))) : -1;
    const seq: Omit<Message, 'at'>[] = [];
    for (let i = 0; i < shape.perDevice; i++) {
      const milli = rng.int(0, 2000);
      total += milli;
      const timestamp = i === futureAt ? base + i * 1000 + TEN_YEARS_MS : base + i * 1000;
      const identity = `esp:${meterNo}:${timestamp}`;
      expected.push({ identity, kind: 'esp32', owner: meterNo, position: timestamp, value: total / 1000, ...(i === futureAt ? { displaced: true } : {}) });
      seq.push({ identity, topic: `smartmeter/${meterNo}/consumption`, payload: JSON.stringify({ meterNo, unitsConsumed: milli / 1000, timestamp }) });
      if (i > 0 && i % Math.max(1, Math.floor(shape.perDevice / ((shape.poison ?? 0) + 1))) === 0 && poison.filter((p) => p.meterNo === meterNo).length < (shape.poison ?? 0)) {
        const at = timestamp + 500;
        const text = rng.pick(['relay\\u0000stuck', 'bad \\ud800 surrogate', 'nul\\u0000and \\udfff both']);
        const p = { identity: `poison:${meterNo}:${at}`, meterNo, sourceKey: `esp32:${meterNo}:status:${at}` };
        poison.push(p);
        // Escapes in the JSON text: the parsed string holds the NUL / lone surrogate itself.
        seq.push({ identity: p.identity, topic: `smartmeter/${meterNo}/status`, payload: `{"meterNo":"${meterNo}","status":"warn","message":"${text}","timestamp":${at}}` });
      }
    }
    sequences.push(seq);
  }

  // Interleave the devices' sequences in a random order (each device's own order kept), then pace.
  const cursors = sequences.map(() => 0);
  const ordered: Omit<Message, 'at'>[] = [];
  for (let left = sequences.reduce((n, s) => n + s.length, 0); left > 0; left--) {
    const open = sequences.map((s, i) => i).filter((i) => cursors[i]! < sequences[i]!.length);
    const i = rng.pick(open);
    ordered.push(sequences[i]![cursors[i]!++]!);
  }
  const gap = 1000 / shape.rate;
  const messages: Message[] = [];
  ordered.forEach((message, i) => {
    let at = i * gap;
    if (rng.chance(shape.reorderNear)) at += gap * rng.int(1, 4) + 0.5;
    else if (rng.chance(shape.reorderFar)) at += rng.int(150, 600);
    messages.push({ ...message, at });
    if (rng.chance(shape.duplicates)) {
      // ChirpStack redelivers the same event, or a second ChirpStack instance dedups it under another id.
      const payload = message.topic.startsWith('smartmeter/') || rng.chance(0.5) ? message.payload : JSON.stringify({ ...(JSON.parse(message.payload) as object), deduplicationId: rng.uuid() });
      messages.push({ ...message, payload, at: at + rng.int(0, 2000) });
    }
  });
  messages.sort((a, b) => a.at - b.at);
  return { devices, expected, poison, messages };
}

/** Publishes a plan at QoS 1 and records the PUBACKs; survives broker restarts (mqtt.js resends in flight). */
export class Publisher {
  readonly acked = new Set<string>();
  published = 0;
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;

  private constructor(private readonly client: MqttClient) {}

  static async connect(url: string, clientId: string): Promise<Publisher> {
    const client = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 300, connectTimeout: 5_000 });
    return new Publisher(client);
  }

  /** Send the messages at their times; `during` runs alongside (the faults). */
  async send(messages: Message[], signal: { aborted: boolean } = { aborted: false }): Promise<void> {
    const start = Date.now();
    for (const message of messages) {
      if (this.stopped || signal.aborted) break;
      const wait = start + message.at - Date.now();
      if (wait > 0) await sleep(wait);
      this.published++;
      const p = this.client
        .publishAsync(message.topic, message.payload, { qos: 1 })
        .then(() => {
          this.acked.add(message.identity);
        })
        .catch(() => undefined)
        .finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** Wait (bounded) for the PUBACKs still outstanding. */
  async settle(ms: number): Promise<number> {
    const until = Date.now() + ms;
    while (this.pending.size > 0 && Date.now() < until) await sleep(100);
    return this.pending.size;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.client.endAsync(true).catch(() => undefined);
  }
}
