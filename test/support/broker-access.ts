// The broker access cases, run against the embedded broker (test/runtime/broker.test.ts) and against a
// private Mosquitto with the exported password file and ACL (test/runtime/mosquitto-acl.test.ts): forged
// logins, publishes and subscriptions are refused whatever client id the forger picks.
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { expect, it } from 'vitest';
import { esp32CommandTopic, esp32ReportTopic } from '#domain/topics';

export interface Login {
  username: string;
  password: string;
}

export interface AccessRig {
  url: string;
  platform: Login;
  chirpstack: Login;
  operator: Login;
  /** Two meters with credentials issued by the API. */
  meterA: Login & { meterNo: string };
  meterB: Login & { meterNo: string };
  /** The embedded broker also holds a meter to its client id and refuses retained device messages by topic. */
  embedded: boolean;
}

const id = () => randomBytes(4).toString('hex');
const clients: MqttClient[] = [];

export async function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options });
  clients.push(client);
  return client;
}

/** Connect, expecting a refusal: the CONNACK's reason. */
export async function refusedConnect(url: string, options: IClientOptions): Promise<string> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options }).then(
    async (c) => (await c.endAsync(true), 'connected'),
    (error: Error) => error.message,
  );
}

export async function endClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
}

/**
 * Publish and let the broker take it: the PUBACK (Mosquitto acknowledges a publish its ACL drops), or the
 * disconnect (the embedded broker ends a client whose publish it refuses, MQTT 3.1.1 having no negative PUBACK).
 */
async function publishAndSettle(client: MqttClient, topic: string, payload: string, retain = false): Promise<void> {
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await Promise.race([client.publishAsync(topic, payload, { qos: 1, retain }).catch(() => undefined), closed]);
}

/**
 * Everything `listener` receives on `topic` up to a sentinel the platform publishes there afterwards: a
 * forged message the broker forwarded would arrive before it (one broker, messages in order).
 */
async function receivedBefore(rig: AccessRig, listener: MqttClient, topic: string, act: () => Promise<void>): Promise<string[]> {
  const sentinel = `sentinel-${id()}`;
  const seen: string[] = [];
  const done = new Promise<void>((resolve) => {
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      const text = payload.toString();
      if (text !== sentinel) return void seen.push(text);
      listener.off('message', onMessage);
      resolve();
    };
    listener.on('message', onMessage);
  });
  await act();
  const platform = await connect(rig.url, { clientId: `pf-${id()}`, ...rig.platform });
  await platform.publishAsync(topic, sentinel, { qos: 1 });
  await done;
  return seen;
}

export function brokerAccessCases(rig: () => AccessRig): void {
  it('refuses anonymous clients, whatever client id they claim', async () => {
    const r = rig();
    expect(await refusedConnect(r.url, { clientId: r.meterA.meterNo })).toMatch(/Not authorized|Bad username or password/i);
  });

  it('refuses wrong passwords for meters and services', async () => {
    const r = rig();
    expect(await refusedConnect(r.url, { clientId: r.meterA.meterNo, username: r.meterA.username, password: r.meterB.password })).toMatch(/Not authorized|Bad username or password/i);
    expect(await refusedConnect(r.url, { clientId: `x-${id()}`, username: r.chirpstack.username, password: 'not-the-secret-at-all' })).toMatch(/Not authorized|Bad username or password/i);
    expect(await refusedConnect(r.url, { clientId: `x-${id()}`, username: 'unknown-meter', password: r.meterA.password })).toMatch(/Not authorized|Bad username or password/i);
  });

  it('forwards a meter’s own report and drops one it forges for another meter', async () => {
    const r = rig();
    const listener = await connect(r.url, { clientId: `ls-${id()}`, ...r.platform });
    const forgedTopic = esp32ReportTopic(r.meterB.meterNo, 'consumption');
    const ownTopic = esp32ReportTopic(r.meterA.meterNo, 'consumption');
    await listener.subscribeAsync([forgedTopic, ownTopic], { qos: 1 });

    const forged = await receivedBefore(r, listener, forgedTopic, async () => {
      const meter = await connect(r.url, { clientId: r.meterA.meterNo, username: r.meterA.username, password: r.meterA.password });
      await publishAndSettle(meter, forgedTopic, '{"unitsConsumed":100}');
    });
    const own = await receivedBefore(r, listener, ownTopic, async () => {
      const meter = await connect(r.url, { clientId: r.meterA.meterNo, username: r.meterA.username, password: r.meterA.password });
      await meter.publishAsync(ownTopic, '{"unitsConsumed":1}', { qos: 1 });
    });

    expect(forged).toEqual([]);
    expect(own).toEqual(['{"unitsConsumed":1}']);
  });

  it('lets no meter read another meter’s commands, not even with #', async () => {
    const r = rig();
    const spy = await connect(r.url, { clientId: r.meterB.meterNo, username: r.meterB.username, password: r.meterB.password });
    // The embedded broker answers these subscriptions with a failure code; Mosquitto grants them and delivers nothing.
    for (const filter of ['#', 'smartmeter/+/command/#', esp32CommandTopic(r.meterA.meterNo, 'balance')]) await spy.subscribeAsync(filter, { qos: 1 }).catch(() => undefined);
    await spy.subscribeAsync(esp32CommandTopic(r.meterB.meterNo, 'balance'), { qos: 1 });
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));

    // The sentinel goes to the spy's own command topic: what it may read arrives, the other meter's does not.
    await receivedBefore(r, spy, esp32CommandTopic(r.meterB.meterNo, 'balance'), async () => {
      const platform = await connect(r.url, { clientId: `pf-${id()}`, ...r.platform });
      await platform.publishAsync(esp32CommandTopic(r.meterA.meterNo, 'balance'), '{"balance":5}', { qos: 1 });
    });

    expect(seen.filter((t) => t === esp32CommandTopic(r.meterA.meterNo, 'balance'))).toEqual([]);
  });

  it('refuses a forged retained balance command, so the real meter never receives it', async () => {
    const r = rig();
    const topic = esp32CommandTopic(r.meterA.meterNo, 'balance');
    for (const forger of [r.meterB, r.chirpstack, r.operator]) {
      const clientId = 'meterNo' in forger && typeof forger.meterNo === 'string' ? forger.meterNo : `f-${id()}`;
      const c = await connect(r.url, { clientId, username: forger.username, password: forger.password });
      await publishAndSettle(c, topic, '{"balance":1000000}', true);
    }
    const meter = await connect(r.url, { clientId: r.meterA.meterNo, username: r.meterA.username, password: r.meterA.password });
    // Retained messages are sent with the SUBACK's flow; the sentinel after them closes the window.
    const seen = await receivedBefore(r, meter, topic, async () => {
      await meter.subscribeAsync(topic, { qos: 1 });
    });

    expect(seen).toEqual([]);
  });

  it('takes ChirpStack uplinks from ChirpStack’s identity only', async () => {
    const r = rig();
    const topic = `application/app-${id()}/device/0101010101010101/event/up`;
    const listener = await connect(r.url, { clientId: `ls-${id()}`, ...r.platform });
    await listener.subscribeAsync(topic, { qos: 1 });

    const forged = await receivedBefore(r, listener, topic, async () => {
      const meter = await connect(r.url, { clientId: r.meterA.meterNo, username: r.meterA.username, password: r.meterA.password });
      await publishAndSettle(meter, topic, 'forged-by-meter');
      const operator = await connect(r.url, { clientId: `op-${id()}`, ...r.operator });
      await publishAndSettle(operator, topic, 'forged-by-operator');
    });
    const genuine = await receivedBefore(r, listener, topic, async () => {
      const chirpstack = await connect(r.url, { clientId: `cs-${id()}`, ...r.chirpstack });
      await chirpstack.publishAsync(topic, 'uplink', { qos: 1 });
    });

    expect(forged).toEqual([]);
    expect(genuine).toEqual(['uplink']);
  });
}
