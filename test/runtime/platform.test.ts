// The local runtime end to end: real HTTP server with bearer tokens, MQTT broker, database, and a
// restart on the same data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform.dispose();
});

async function http(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${platform.httpUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('local runtime', () => {
  it('serves /health without a token and reports database and broker', async () => {
    const res = await http('GET', '/health');

    expect(res).toMatchObject({ status: 200, body: { checks: { database: 'ok', broker: 'ok' } } });
  });

  it('rejects a missing, forged or wrong-role token', async () => {
    const forged = (await platform.token('admin')).slice(0, -4) + 'AAAA';

    const none = await http('GET', '/meters');
    const bad = await http('GET', '/meters', forged);
    const viewer = await http('POST', '/sites', await platform.token('viewer'), { code: 'x1', name: 'X' });

    expect(none.status).toBe(401);
    expect(none.type).toBe('application/problem+json');
    expect(bad.status).toBe(401);
    expect(viewer.status).toBe(403);
  });

  it('registers a meter over HTTP with an operator token', async () => {
    const meterNo = `RT${Date.now()}`;

    const res = await http('POST', '/meters', await platform.token('operator'), { meterNo, meterType: 'water' });

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ meterNo, unit: 'm3' });
  });

  it('accepts MQTT clients on its broker', async () => {
    const client = await mqtt.connectAsync(platform.mqttUrl, { clientId: `test-${Date.now()}`, ...platform.mqttAuth() });
    const topic = `quantify-test/${Date.now()}`;
    const received = new Promise<string>((resolve) => client.on('message', (_t, payload) => resolve(payload.toString())));
    await client.subscribeAsync(topic, { qos: 1 });

    await client.publishAsync(topic, 'hello', { qos: 1 });

    expect(await received).toBe('hello');
    await client.endAsync();
  });
});

describe('restart', () => {
  it('keeps a registered meter across a stop and a second start on the same data', async () => {
    const first = await startTestPlatform();
    const meterNo = `RS${Date.now()}`;
    const created = await fetch(`${first.httpUrl}/meters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await first.token('admin')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ meterNo, meterType: 'electricity' }),
    });
    expect(created.status).toBe(201);
    const schema = first.db.driver === 'postgres' ? (new URL(first.config.DATABASE_URL ?? '').searchParams.get('options') ?? '').replace(/.*search_path=/, '') : undefined;
    await first.stop();

    const second = await startTestPlatform({}, { dataDir: first.dataDir, ...(schema ? { schema } : {}) });
    const list = await fetch(`${second.httpUrl}/meters?limit=500`, { headers: { authorization: `Bearer ${await second.token('viewer')}` } });
    const body = (await list.json()) as { items: { meterNo: string }[] };
    expect(body.items.map((m) => m.meterNo)).toContain(meterNo);
    await second.dispose();
    await first.dispose().catch(() => undefined);
  });
});
