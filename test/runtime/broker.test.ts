// The embedded broker holds meter clients to their own topics, as the IoT policy does in the cloud.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '#runtime/broker';

let broker: EmbeddedBroker;
beforeAll(async () => {
  broker = await startEmbeddedBroker(0);
});
afterAll(async () => {
  await broker.close();
});

describe('embedded broker authorization', () => {
  it('delivers a meter its own command topic and refuses another meter’s', async () => {
    const platform = await mqtt.connectAsync(broker.url, { clientId: 'quantify-platform-test' });
    const meter = await mqtt.connectAsync(broker.url, { clientId: 'smartmeter-METER001', reconnectPeriod: 0 });
    const granted = await meter.subscribeAsync('smartmeter/METER001/command/balance', { qos: 1 });
    // MQTT.js rejects a subscription the broker answers with return code 0x80 (failure).
    const refused = await meter.subscribeAsync('smartmeter/METER002/command/balance', { qos: 1 }).then(
      () => 'granted',
      (error: Error) => error.message,
    );
    const received = new Promise<string>((resolve) => meter.on('message', (topic) => resolve(topic)));

    await platform.publishAsync('smartmeter/METER001/command/balance', JSON.stringify({ balance: 5, timestamp: 1 }), { qos: 1 });

    expect(granted[0]?.qos).toBe(1);
    expect(refused).toMatch(/Subscribe error/);
    expect(meter.connected).toBe(true);
    expect(await received).toBe('smartmeter/METER001/command/balance');
    await meter.endAsync();
    await platform.endAsync();
  });

  it('disconnects a meter that publishes to another meter’s topic, and does not forward it', async () => {
    const listener = await mqtt.connectAsync(broker.url, { clientId: 'quantify-platform-listener' });
    await listener.subscribeAsync('smartmeter/+/consumption', { qos: 1 });
    const forwarded: string[] = [];
    listener.on('message', (topic) => forwarded.push(topic));
    const meter = await mqtt.connectAsync(broker.url, { clientId: 'smartmeter-METER003', reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => meter.on('close', () => resolve()));

    meter.publish('smartmeter/METER004/consumption', '{}', { qos: 0 });
    await closed;
    const own = await mqtt.connectAsync(broker.url, { clientId: 'smartmeter-METER003', reconnectPeriod: 0 });
    await own.publishAsync('smartmeter/METER003/consumption', '{}', { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));

    expect(forwarded).toEqual(['smartmeter/METER003/consumption']);
    await own.endAsync();
    await listener.endAsync();
  });
});
