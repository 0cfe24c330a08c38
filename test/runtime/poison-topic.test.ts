// A topic holding a NUL, published to the embedded broker (aedes passes it on; Mosquitto closes the
// publisher's connection instead, so there is nothing to test there): the platform keeps the message in the
// quarantine, sanitised, once, instead of retrying it until shutdown.
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replacementCharacter } from '#domain/text';
import { mqttUrl } from '../support/db.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe.skipIf(mqttUrl)('a topic PostgreSQL cannot store, on the embedded broker', () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform({ SCHEDULER_ENABLED: 'false' });
  });
  afterAll(async () => {
    await platform.dispose();
  });

  it('is quarantined once, with the topic sanitised and shown as sent', async () => {
    const marker = randomBytes(4).toString('hex');
    const publisher = await mqtt.connectAsync(platform.mqttUrl, { clientId: `poison-${marker}`, ...platform.mqttAuth() });

    await publisher.publishAsync(`smartmeter/N${marker}\u0000/consumption`, JSON.stringify({ unitsConsumed: 1, timestamp: 1_790_000_000_000 }), { qos: 1 });
    await publisher.endAsync();

    const find = () => platform.db.db.selectFrom('quarantine').selectAll().where('topic', 'like', `smartmeter/N${marker}%`).execute();
    let rows = await find();
    for (let i = 0; i < 100 && rows.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      rows = await find();
    }
    expect(rows).toHaveLength(1);
    expect(rows[0]?.topic).toBe(`smartmeter/N${marker}${replacementCharacter}/consumption`);
    expect(rows[0]?.reason).toContain(`topic as sent: smartmeter/N${marker}\\u0000/consumption`);
  });
});
