// MQTT ingestion acknowledges a QoS 1 message only after the batch holding it is written, still batches,
// and stops reading the broker while the batcher is full. Against the embedded broker (aedes), watching the
// PUBACKs the ingesting client sends.
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { InboundMessage } from '#app/ingest/inbound';
import { MicroBatcher } from '#runtime/batcher';
import { startEmbeddedBroker, type EmbeddedBroker } from '#runtime/broker';
import { MqttIngest } from '#runtime/mqtt-ingest';
import { eventually } from '../support/http.ts';

const topic = (i: number) => `smartmeter/MI${process.pid}/consumption/${i}`;
const filter = `smartmeter/MI${process.pid}/consumption/+`;

let broker: EmbeddedBroker | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  await broker?.close();
  broker = undefined;
});

interface Rig {
  ingest: MqttIngest;
  batcher: MicroBatcher<InboundMessage>;
  publisher: MqttClient;
  /** PUBACKs the ingesting client sent, in order, by payload. */
  acked: string[];
  /** Payloads the ingesting client received. */
  received: string[];
  /** What each handled batch held, by payload. */
  batches: string[][];
  /** Let the batch handler finish (it waits for this until called). */
  openGate(): void;
  maxHeld: () => number;
}

async function rig(maxInFlight: number): Promise<Rig> {
  // A unit rig for acknowledgements, not for access: its clients need no login.
  broker = await startEmbeddedBroker({ port: 0, access: { serviceSecrets: { platform: 'x'.repeat(16), chirpstack: 'y'.repeat(16), operator: 'z'.repeat(16) }, verifyMeter: async () => false, allowAnonymous: true } });
  let openGate!: () => void;
  const gate = new Promise<void>((r) => (openGate = r));
  const batches: string[][] = [];
  let maxHeld = 0;
  const batcher = new MicroBatcher<InboundMessage>({
    maxSize: 5,
    maxWaitMs: 5,
    concurrency: 1,
    maxInFlight,
    handle: async (items) => {
      maxHeld = Math.max(maxHeld, batcher.inFlight);
      await gate;
      batches.push(items.map((m) => m.payload.toString()));
      return [];
    },
    onError: () => undefined,
  });
  const client = mqtt.connect(broker.url, { clientId: `mi-${process.pid}-${Date.now()}`, manualConnect: true });
  clients.push(client);
  const ingest = new MqttIngest(client, { accepts: (t) => t.startsWith(`smartmeter/MI${process.pid}/`) });
  const payloads = new Map<number, string>();
  client.on('message', (_t, payload, packet) => {
    if (packet.messageId !== undefined) payloads.set(packet.messageId, payload.toString());
  });
  const received: string[] = [];
  client.on('message', (_t, payload) => received.push(payload.toString()));
  const acked: string[] = [];
  client.on('packetsend', (packet: Packet) => {
    if (packet.cmd === 'puback') acked.push(payloads.get(packet.messageId ?? -1) ?? '?');
  });
  client.connect();
  await new Promise<void>((r) => client.once('connect', () => r()));
  ingest.attach(batcher);
  await client.subscribeAsync(filter, { qos: 1 });
  const publisher = await mqtt.connectAsync(broker.url, { clientId: `mi-pub-${process.pid}-${Date.now()}` });
  clients.push(publisher);
  return { ingest, batcher, publisher, acked, received, batches, openGate, maxHeld: () => maxHeld };
}

describe('MQTT ingestion acknowledgements', () => {
  it('sends no PUBACK before the batch holding the message is written, then one per message in arrival order', async () => {
    const r = await rig(100);
    const sent = Array.from({ length: 12 }, (_, i) => `m${i}`);
    for (const [i, p] of sent.entries()) await r.publisher.publishAsync(topic(i), p, { qos: 1 });
    await eventually('all in the batcher', async () => (r.batcher.inFlight === sent.length ? true : undefined));

    const ackedBeforeWrite = [...r.acked];
    r.openGate();
    await eventually('all acknowledged', async () => (r.acked.length === sent.length ? true : undefined));

    expect(ackedBeforeWrite).toEqual([]);
    expect(r.acked).toEqual(sent);
    expect(r.ingest.unacknowledged).toBe(0);
  });

  it('keeps many messages in flight, so batches hold more than one message', async () => {
    const r = await rig(100);
    r.openGate();
    const sent = Array.from({ length: 30 }, (_, i) => `b${i}`);

    await Promise.all(sent.map((p, i) => r.publisher.publishAsync(topic(i), p, { qos: 1 })));
    await eventually('all acknowledged', async () => (r.acked.length === sent.length ? true : undefined));

    expect(r.batches.flat().sort()).toEqual([...sent].sort());
    expect(Math.max(...r.batches.map((b) => b.length))).toBeGreaterThan(1);
  });

  it('stops taking messages while the batcher is full, and takes the rest once it has room', async () => {
    const r = await rig(4);
    const sent = Array.from({ length: 20 }, (_, i) => `p${i}`);
    await Promise.all(sent.map((p, i) => r.publisher.publishAsync(topic(i), p, { qos: 1 })));
    await eventually('batcher full', async () => (r.batcher.inFlight === 4 ? true : undefined));

    const heldWhileBlocked = r.ingest.unacknowledged;
    r.openGate();
    await eventually('all acknowledged', async () => (r.acked.length === sent.length ? true : undefined));

    // Four in the batcher and at most one more taken off the connection and waiting for room.
    expect(heldWhileBlocked).toBeLessThanOrEqual(5);
    expect(r.maxHeld()).toBeLessThanOrEqual(4);
    expect(r.acked).toEqual(sent);
  });

  it('leaves what arrives after close unacknowledged', async () => {
    const r = await rig(100);
    r.openGate();
    await r.publisher.publishAsync(topic(0), 'before', { qos: 1 });
    await eventually('first acknowledged', async () => (r.acked.length === 1 ? true : undefined));

    r.ingest.close();
    await r.publisher.publishAsync(topic(1), 'after', { qos: 1 });
    await eventually('second received', async () => (r.received.includes('after') ? true : undefined));
    await r.batcher.drain();
    await r.ingest.drainAcks();

    expect(r.acked).toEqual(['before']);
    expect(r.batches.flat()).toEqual(['before']);
  });
});
