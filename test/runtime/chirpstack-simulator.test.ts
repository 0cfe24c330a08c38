// The ChirpStack simulator driven by the real REST client and a real MQTT broker (Mosquitto at MQTT_URL
// when set, an embedded aedes broker otherwise). Events are checked against ChirpStack v4's JSON shapes
// (test/fixtures/vectors/chirpstack_events.json, from chirpstack-docs events.md at 9d9b5bb4). Each test uses its
// own random applicationId and DevEUI, so tests can share a broker with other test files.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ChirpStackClient, ChirpStackRejectedError } from '#adapters/chirpstack-client';
import { bytesToHex, buildRelayFrame, type RelayConfigInput, verifyCrc } from '#domain/modbus';
import { ChirpStackSimulator } from '#runtime/chirpstack-sim/index';
import { vectorsDir } from '../support/vectors.ts';

const mqttUrl = process.env.MQTT_URL || undefined;

// The documentation's uplink event, used as the template for the uplinks tests send.
const upTemplate = z
  .array(z.object({ input: z.record(z.string(), z.unknown()), expected: z.object({ event: z.string() }).loose() }))
  .parse(JSON.parse(readFileSync(path.join(vectorsDir, 'chirpstack_events.json'), 'utf8')))
  .find((v) => v.expected.event === 'up')?.input;
if (!upTemplate) throw new Error('no up event in chirpstack_events.json');

const deviceInfoSchema = z.object({ applicationId: z.string(), devEui: z.string() }).loose();
const txackSchema = z.object({
  downlinkId: z.number().int().positive(),
  time: z.iso.datetime({ offset: true }),
  deviceInfo: deviceInfoSchema,
  queueItemId: z.string(),
  fCntDown: z.number().int().min(0),
  gatewayId: z.string().regex(/^[0-9a-f]{16}$/),
  txInfo: z.object({ frequency: z.number(), power: z.number(), modulation: z.object({ lora: z.object({}).loose() }) }),
});
const ackSchema = z.object({
  deduplicationId: z.uuid(),
  time: z.iso.datetime({ offset: true }),
  deviceInfo: deviceInfoSchema,
  queueItemId: z.string(),
  acknowledged: z.literal(true),
  fCntDown: z.number().int().min(0),
});
const upSchema = z.object({
  deduplicationId: z.uuid(),
  time: z.iso.datetime({ offset: true }),
  deviceInfo: deviceInfoSchema,
  devAddr: z.string(),
  fCnt: z.number().int().min(0),
  fPort: z.number().int(),
  data: z.string(),
  rxInfo: z.array(z.object({ gatewayId: z.string(), rssi: z.number(), snr: z.number() }).loose()).min(1),
});
const logSchema = z.object({
  time: z.iso.datetime({ offset: true }),
  deviceInfo: deviceInfoSchema,
  level: z.string(),
  code: z.string(),
  description: z.string(),
  context: z.object({ queue_item_id: z.string() }),
});

interface SeenEvent {
  kind: string;
  body: unknown;
}

let broker: Aedes | undefined;
let brokerServer: net.Server | undefined;
let simulatorMqtt: MqttClient;
let observer: MqttClient;
let simulator: ChirpStackSimulator;
let client: ChirpStackClient;
let apiUrl = '';
// The simulator counts an event once its publish has been acknowledged, which can be after a subscriber has
// already seen it: counters are polled, never read once right after the event arrives.
const events: SeenEvent[] = [];
const observed: string[] = [];

beforeAll(async () => {
  let url = mqttUrl;
  if (!url) {
    const aedes = await Aedes.createBroker();
    broker = aedes;
    const server = net.createServer(aedes.handle);
    brokerServer = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }
  const options = { reconnectPeriod: 0, connectTimeout: 5_000 };
  simulatorMqtt = await mqtt.connectAsync(url, { ...options, clientId: `cs-sim-${randomUUID()}` });
  observer = await mqtt.connectAsync(url, { ...options, clientId: `cs-obs-${randomUUID()}` });
  observer.on('message', (topic, payload) => {
    const kind = /\/event\/([^/]+)$/.exec(topic)?.[1] ?? '?';
    events.push({ kind, body: JSON.parse(payload.toString('utf8')) as unknown });
  });
  simulator = new ChirpStackSimulator({
    mqtt: simulatorMqtt,
    apiKey: 'sim-key',
    deviceResponseDelayMs: 10,
    logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
  });
  apiUrl = (await simulator.start()).url;
  client = new ChirpStackClient({ baseUrl: apiUrl, apiKey: 'sim-key', timeoutMs: 2_000 });
});

afterEach(async () => {
  await Promise.all(observed.splice(0).map((t) => observer.unsubscribeAsync(t)));
  events.length = 0;
});

afterAll(async () => {
  await simulator.stop();
  await Promise.all([simulatorMqtt.endAsync(), observer.endAsync()]);
  if (brokerServer) await new Promise<void>((resolve) => brokerServer?.close(() => resolve()));
  if (broker) await new Promise<void>((resolve) => broker?.close(() => resolve()));
});

/** A fresh device in a fresh application, with the observer watching its events. */
async function newDevice(): Promise<{ applicationId: string; devEui: string }> {
  const device = { applicationId: randomUUID(), devEui: randomBytes(8).toString('hex') };
  const topic = `application/${device.applicationId}/device/${device.devEui}/event/+`;
  await observer.subscribeAsync(topic, { qos: 1 });
  observed.push(topic);
  return device;
}

/** Publish an uplink as ChirpStack would (the documentation's event with this device's identity). */
async function sendUplink(
  device: { applicationId: string; devEui: string },
  fields: { fCnt?: number; deduplicationId?: string } = {},
): Promise<Record<string, unknown>> {
  const deviceInfo = { ...z.record(z.string(), z.unknown()).parse(upTemplate?.deviceInfo), ...device };
  const event = {
    ...upTemplate,
    deduplicationId: fields.deduplicationId ?? randomUUID(),
    time: new Date().toISOString(),
    deviceInfo,
    fCnt: fields.fCnt ?? 10,
  };
  await observer.publishAsync(
    `application/${device.applicationId}/device/${device.devEui}/event/up`,
    JSON.stringify(event),
    { qos: 1 },
  );
  return event;
}

/** Bounded wait for an observed event of a kind that satisfies a schema and predicate. */
async function waitForEvent<S extends z.ZodType>(
  kind: string,
  schema: S,
  predicate: (event: z.infer<S>) => boolean = () => true,
  timeoutMs = 5_000,
): Promise<z.infer<S>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const event of events) {
      if (event.kind !== kind) continue;
      const parsed = schema.safeParse(event.body);
      if (parsed.success && predicate(parsed.data)) return parsed.data;
    }
    await sleep(10);
  }
  throw new Error(`no ${kind} event within ${timeoutMs} ms; saw: ${events.map((e) => e.kind).join(', ') || 'none'}`);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const eventsOf = (kind: string) => events.filter((e) => e.kind === kind);
const b64ToHex = (s: string) => Buffer.from(s, 'base64').toString('hex');

describe('Class A delivery', () => {
  it('holds a queued downlink until the device sends an uplink', async () => {
    // Prepare
    const device = await newDevice();
    const id = await client.enqueue(device.devEui, { data: Uint8Array.of(0xaa), fPort: 15, confirmed: false });

    // Act: time passes without an uplink.
    await sleep(200);

    // Assess
    expect(eventsOf('txack')).toHaveLength(0);
    const queue = await client.listQueue(device.devEui);
    expect(queue.items.map((i) => i.id)).toEqual([id]);
  });

  it('transmits the head of the queue on an uplink and reports txack with its queueItemId', async () => {
    // Prepare
    const device = await newDevice();
    const id = await client.enqueue(device.devEui, { data: Uint8Array.of(0xaa), fPort: 15, confirmed: false });
    const before = simulator.counters.delivered;

    // Act
    const up = await sendUplink(device);

    // Assess
    const txack = await waitForEvent('txack', txackSchema, (e) => e.queueItemId === id);
    expect(txack.deviceInfo).toEqual(up.deviceInfo);
    expect(txack.fCntDown).toBe(0);
    await expect.poll(() => simulator.counters.delivered, { timeout: 5_000 }).toBe(before + 1);
    expect((await client.listQueue(device.devEui)).totalCount).toBe(0);
  });

  it('acknowledges a confirmed downlink with an ack event', async () => {
    // Prepare
    const device = await newDevice();
    const id = await client.enqueue(device.devEui, { data: Uint8Array.of(0x01), fPort: 15, confirmed: true });

    // Act
    await sendUplink(device);

    // Assess
    const ack = await waitForEvent('ack', ackSchema, (e) => e.queueItemId === id);
    const txack = await waitForEvent('txack', txackSchema, (e) => e.queueItemId === id);
    expect(ack.fCntDown).toBe(txack.fCntDown);
  });

  it('sends no ack for an unconfirmed downlink', async () => {
    const device = await newDevice();
    const id = await client.enqueue(device.devEui, { data: Uint8Array.of(0x01), fPort: 15, confirmed: false });
    await sendUplink(device);
    await waitForEvent('txack', txackSchema, (e) => e.queueItemId === id);
    await sleep(100);
    expect(eventsOf('ack')).toHaveLength(0);
  });

  it('delivers one item per uplink, first in first out, counting fCntDown up', async () => {
    // Prepare
    const device = await newDevice();
    const first = await client.enqueue(device.devEui, { data: Uint8Array.of(1), fPort: 15, confirmed: false });
    const second = await client.enqueue(device.devEui, { data: Uint8Array.of(2), fPort: 15, confirmed: false });

    // Act
    await sendUplink(device, { fCnt: 1 });
    const firstTx = await waitForEvent('txack', txackSchema, (e) => e.queueItemId === first);
    await sleep(100);
    const afterOne = eventsOf('txack').length;
    await sendUplink(device, { fCnt: 2 });
    const secondTx = await waitForEvent('txack', txackSchema, (e) => e.queueItemId === second);

    // Assess
    expect(afterOne).toBe(1);
    expect([firstTx.fCntDown, secondTx.fCntDown]).toEqual([0, 1]);
  });

  it('delivers once for an uplink received twice (same deduplicationId)', async () => {
    // Prepare
    const device = await newDevice();
    await client.enqueue(device.devEui, { data: Uint8Array.of(1), fPort: 15, confirmed: false });
    await client.enqueue(device.devEui, { data: Uint8Array.of(2), fPort: 15, confirmed: false });
    const deduplicationId = randomUUID();

    // Act
    await sendUplink(device, { deduplicationId });
    await sendUplink(device, { deduplicationId });
    await waitForEvent('txack', txackSchema);
    await sleep(150);

    // Assess
    expect(eventsOf('txack')).toHaveLength(1);
    expect((await client.listQueue(device.devEui)).totalCount).toBe(1);
  });

  it('drops an item past its expiresAt instead of sending it, with a log event', async () => {
    // Prepare
    const device = await newDevice();
    const expiresAt = new Date(Date.now() + 50);
    const id = await client.enqueue(device.devEui, { data: Uint8Array.of(1), fPort: 15, confirmed: false, expiresAt });
    await sleep(100);
    const before = simulator.counters.expired;

    // Act
    await sendUplink(device);

    // Assess
    const log = await waitForEvent('log', logSchema, (e) => e.context.queue_item_id === id);
    expect(log.description).toMatch(/expired/);
    await sleep(50);
    expect(eventsOf('txack')).toHaveLength(0);
    await expect.poll(() => simulator.counters.expired, { timeout: 5_000 }).toBe(before + 1);
  });

  it('forgets flushed items', async () => {
    // Prepare
    const device = await newDevice();
    await client.enqueue(device.devEui, { data: Uint8Array.of(1), fPort: 15, confirmed: false });
    await client.enqueue(device.devEui, { data: Uint8Array.of(2), fPort: 15, confirmed: false });

    // Act
    await client.flushQueue(device.devEui);
    await sendUplink(device);
    await sleep(150);

    // Assess
    expect((await client.listQueue(device.devEui)).totalCount).toBe(0);
    expect(eventsOf('txack')).toHaveLength(0);
  });
});

describe('UC100 + meter emulation on the pass-through fPort', () => {
  it('answers the FC05 relay-off frame with its echo as an uplink on fPort 5', async () => {
    // Prepare: the seed's relay-off frame 01 05 00 00 00 00 CD CA.
    const device = await newDevice();
    const frame = buildRelayFrame(undefined, 'off');
    const id = await client.enqueue(device.devEui, { data: frame, fPort: 5, confirmed: false });

    // Act
    const trigger = await sendUplink(device, { fCnt: 41 });

    // Assess
    await waitForEvent('txack', txackSchema, (e) => e.queueItemId === id);
    const isAnswer = (e: z.infer<typeof upSchema>) => e.fPort === 5 && e.deduplicationId !== trigger.deduplicationId;
    const up = await waitForEvent('up', upSchema, isAnswer);
    expect(b64ToHex(up.data)).toBe('010500000000cdca');
    expect(up.fCnt).toBe(42);
    expect(up.deviceInfo).toEqual(trigger.deviceInfo);
    expect(up.rxInfo[0]?.gatewayId).toMatch(/^[0-9a-f]{16}$/);
    await expect.poll(() => simulator.counters.emulatedUplinks, { timeout: 5_000 }).toBeGreaterThanOrEqual(1);
  });

  it('answers an FC16 register write with slave, 0x10, address, quantity and CRC', async () => {
    // Prepare: SDM320-LoRa open-relay frame (cthings article, test/fixtures/vectors/eastron_sdm.json).
    const device = await newDevice();
    const relay: RelayConfigInput = { method: 'register', register: 0xfd00, onValues: [0xff00], offValues: [0] };
    const frame = buildRelayFrame(relay, 'off');
    await client.enqueue(device.devEui, { data: frame, fPort: 5, confirmed: true });

    // Act
    const trigger = await sendUplink(device);

    // Assess
    const isAnswer = (e: z.infer<typeof upSchema>) => e.fPort === 5 && e.deduplicationId !== trigger.deduplicationId;
    const up = await waitForEvent('up', upSchema, isAnswer);
    const response = Buffer.from(up.data, 'base64');
    expect(bytesToHex(response.subarray(0, 6))).toBe('0110fd000001');
    expect(verifyCrc(response)).toBe(true);
  });

  it('stays silent for payloads that are not a Modbus write (a Busylight colour on fPort 5)', async () => {
    const device = await newDevice();
    const colour = Uint8Array.of(0, 0, 0xff, 0x64, 0);
    const id = await client.enqueue(device.devEui, { data: colour, fPort: 5, confirmed: false });
    await sendUplink(device);
    await waitForEvent('txack', txackSchema, (e) => e.queueItemId === id);
    await sleep(150);
    expect(eventsOf('up')).toHaveLength(1); // only the test's own uplink
  });

  it('does not emulate on other fPorts', async () => {
    const device = await newDevice();
    const frame = buildRelayFrame(undefined, 'on');
    const id = await client.enqueue(device.devEui, { data: frame, fPort: 6, confirmed: false });
    await sendUplink(device);
    await waitForEvent('txack', txackSchema, (e) => e.queueItemId === id);
    await sleep(150);
    expect(eventsOf('up')).toHaveLength(1);
  });
});

describe('REST surface', () => {
  const devEui = '0101010101010101';

  it('lists queued items as the client reads them', async () => {
    // Prepare
    const device = await newDevice();
    const expiresAt = new Date(Date.now() + 3_600_000);
    const item = { data: Uint8Array.of(0xde, 0xad), fPort: 7, confirmed: true, expiresAt };
    const id = await client.enqueue(device.devEui, item);

    // Act
    const queue = await client.listQueue(device.devEui);

    // Assess
    expect(queue).toEqual({
      totalCount: 1,
      items: [
        {
          id,
          devEui: device.devEui,
          confirmed: true,
          fPort: 7,
          data: Uint8Array.of(0xde, 0xad),
          isPending: false,
          fCntDown: 0,
          isEncrypted: false,
          expiresAt,
        },
      ],
    });
  });

  it('requires the bearer key', async () => {
    const anonymous = await fetch(`${apiUrl}/api/devices/${devEui}/queue`);
    const wrongKey = new ChirpStackClient({ baseUrl: apiUrl, apiKey: 'other' });
    expect(anonymous.status).toBe(401);
    await expect(wrongKey.listQueue(devEui)).rejects.toBeInstanceOf(ChirpStackRejectedError);
    await expect(wrongKey.listQueue(devEui)).rejects.toMatchObject({ status: 401, grpcCode: 16 });
  });

  it.each([
    ['fPort 0', { queueItem: { confirmed: false, data: 'qg==', fPort: 0 } }],
    ['no fPort', { queueItem: { data: 'qg==' } }],
    ['data not base64', { queueItem: { data: '!!', fPort: 5 } }],
    ['no queueItem', { confirmed: false }],
  ])('answers 400 for a body with %s', async (_label, body) => {
    const res = await fetch(`${apiUrl}/api/devices/${devEui}/queue`, {
      method: 'POST',
      headers: { 'grpc-metadata-authorization': 'Bearer sim-key', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 3 });
  });

  it('answers 400 for malformed JSON and a bad DevEUI, 404 for unknown paths', async () => {
    const headers = { 'grpc-metadata-authorization': 'Bearer sim-key' };
    const badJson = await fetch(`${apiUrl}/api/devices/${devEui}/queue`, { method: 'POST', headers, body: '{' });
    const badEui = await fetch(`${apiUrl}/api/devices/xyz/queue`, { headers });
    const unknown = await fetch(`${apiUrl}/api/gateways`, { headers });
    expect([badJson.status, badEui.status, unknown.status]).toEqual([400, 400, 404]);
  });

  it('answers 405 for other methods on the queue path', async () => {
    const headers = { 'grpc-metadata-authorization': 'Bearer sim-key' };
    const res = await fetch(`${apiUrl}/api/devices/${devEui}/queue`, { method: 'PUT', headers });
    expect(res.status).toBe(405);
  });
});
