// The operator portal's server side on the local platform: its files at `/` without a token (the API
// beside them still asks for one), the overview and estate-wide command list it reads, the meter search,
// and the live channel (AppSync Events protocol over a WebSocket) announcing command state changes.
// Real PostgreSQL and Mosquitto when DATABASE_URL / MQTT_URL are set, PGlite and the embedded broker otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { randomEui } from '../support/chirpstack.ts';
import { apiClient, type ApiCall } from '../support/http.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

let platform: TestPlatform;
let api: ApiCall;
let viewerApi: ApiCall;

beforeAll(async () => {
  platform = await startTestPlatform({ INGEST_BATCH_WINDOW_MS: '5', SCHEDULER_ENABLED: 'false' });
  const operator = await platform.token('operator');
  const viewer = await platform.token('viewer');
  api = apiClient(platform.httpUrl, () => operator);
  viewerApi = apiClient(platform.httpUrl, () => viewer);
});
afterAll(async () => {
  await platform?.dispose();
});

const registerUc100 = async (meterNo: string) => {
  const devEui = randomEui();
  const meter = await api<{ id: string }>('POST', '/meters', { meterNo, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });
  expect(meter.status).toBe(201);
  return { id: meter.body.id, devEui };
};

describe('the portal files', () => {
  it('serves the page at / without a token, with a policy that allows only this origin', async () => {
    const res = await fetch(`${platform.httpUrl}/`);

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    expect(html).toContain('<div id="app">');
    const scripts = [...html.matchAll(/src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) expect(src).toMatch(/^\/assets\//);
  });

  it('serves the hashed assets the page names, cacheable for good', async () => {
    const html = await (await fetch(`${platform.httpUrl}/`)).text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];

    const res = await fetch(`${platform.httpUrl}${script}`);

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('cache-control')).toContain('immutable');
  });

  it('serves /config.json with the local values: the API beside the page, the live channel on this origin', async () => {
    const res = await fetch(`${platform.httpUrl}/config.json`);

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.json()).toEqual({ mode: 'local', apiBase: '', live: { url: '/event/realtime' } });
  });

  it('serves nothing else without a token: API paths and paths outside the build still answer 401', async () => {
    for (const path of ['/meters', '/assets/..%2Fpackage.json', '/assets/../package.json', '/index.js', '/overview']) {
      const res = await fetch(`${platform.httpUrl}${path}`);
      expect([401, 404], path).toContain(res.status);
    }
    expect((await fetch(`${platform.httpUrl}/meters`)).status).toBe(401);
    expect((await fetch(`${platform.httpUrl}/assets/nothing-here.js`)).status).toBe(404);
  });
});

describe('what the portal reads', () => {
  it('the overview counts meters by status, commands in flight and the quarantine, for any role', async () => {
    const before = await viewerApi<{ meters: { total: number; unknown: number }; commands: { inFlight: number }; quarantine: { new: number } }>('GET', '/overview');
    const meter = await registerUc100(`OV-${randomEui().slice(0, 8)}`);
    await api('POST', `/meters/${meter.id}/relay`, { action: 'off', reason: 'overview test' });

    const after = await viewerApi<typeof before.body>('GET', '/overview');

    expect(after.status).toBe(200);
    expect(after.body.meters.total).toBe(before.body.meters.total + 1);
    expect(after.body.meters.unknown).toBe(before.body.meters.unknown + 1);
    expect(after.body.commands.inFlight).toBe(before.body.commands.inFlight + 1);
    expect(after.body.quarantine.new).toBe(before.body.quarantine.new);
  });

  it('lists commands across meters by any of several statuses', async () => {
    const meter = await registerUc100(`CL-${randomEui().slice(0, 8)}`);
    const sent = await api<{ id: string }>('POST', `/meters/${meter.id}/relay`, { action: 'off', reason: 'list test' });

    const open = await viewerApi<{ items: { id: string; status: string }[] }>('GET', '/commands?status=pending,queued,sent&limit=500');
    const done = await viewerApi<{ items: { id: string }[] }>('GET', '/commands?status=confirmed,failed');
    const bad = await viewerApi<{ errors: unknown[] }>('GET', '/commands?status=sent,bogus');

    expect(open.body.items.map((c) => c.id)).toContain(sent.body.id);
    expect(done.body.items.map((c) => c.id)).not.toContain(sent.body.id);
    expect(bad.status).toBe(400);
  });

  it('finds meters by part of their number or their device\'s DevEUI, and lists the DevEUI', async () => {
    const tag = randomEui().slice(0, 8).toUpperCase();
    const meter = await registerUc100(`SRCH-${tag}`);

    const byNumber = await viewerApi<{ items: { id: string; devEui: string }[] }>('GET', `/meters?q=${tag.toLowerCase()}`);
    const byEui = await viewerApi<{ items: { id: string }[] }>('GET', `/meters?q=${meter.devEui.slice(4, 14)}`);
    const wildcard = await viewerApi<{ items: unknown[] }>('GET', `/meters?q=${encodeURIComponent('%_%')}`);

    expect(byNumber.body.items).toEqual([expect.objectContaining({ id: meter.id, devEui: meter.devEui })]);
    expect(byEui.body.items.map((m) => m.id)).toEqual([meter.id]);
    expect(wildcard.body.items).toEqual([]);
  });
});

describe('the live channel', () => {
  const header = (token: string) => `header-${Buffer.from(JSON.stringify({ Authorization: token, host: 'localhost' })).toString('base64url')}`;
  const wsUrl = () => `${platform.httpUrl.replace(/^http/, 'ws')}/event/realtime`;

  it('refuses a connection without a valid token', async () => {
    const ws = new WebSocket(wsUrl(), ['aws-appsync-event-ws', header('not-a-token')]);

    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));

    expect(status).toBe(401);
  });

  it('announces a new command and its state changes on /quantify/commands to a viewer', async () => {
    const meter = await registerUc100(`LIVE-${randomEui().slice(0, 8)}`);
    const token = await platform.token('viewer');
    const ws = new WebSocket(wsUrl(), ['aws-appsync-event-ws', header(token)]);
    const frames: { type: string; id?: string; event?: string }[] = [];
    const waitFor = (match: (f: (typeof frames)[number]) => boolean) =>
      new Promise<(typeof frames)[number]>((resolve) => {
        const found = frames.find(match);
        if (found) return resolve(found);
        const onMessage = (data: Buffer) => {
          const frame = JSON.parse(data.toString('utf8')) as (typeof frames)[number];
          if (match(frame)) {
            ws.off('message', onMessage);
            resolve(frame);
          }
        };
        ws.on('message', onMessage);
      });
    ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as (typeof frames)[number]));
    await new Promise((resolve) => ws.on('open', resolve));
    expect(ws.protocol).toBe('aws-appsync-event-ws');
    ws.send(JSON.stringify({ type: 'connection_init' }));
    await waitFor((f) => f.type === 'connection_ack');
    ws.send(JSON.stringify({ type: 'subscribe', id: 'c1', channel: '/quantify/commands' }));
    await waitFor((f) => f.type === 'subscribe_success' && f.id === 'c1');
    ws.send(JSON.stringify({ type: 'subscribe', id: 'x', channel: '/application/+/device/+/event/up' }));
    const refused = await waitFor((f) => f.id === 'x');

    const command = await api<{ id: string }>('POST', `/meters/${meter.id}/relay`, { action: 'off', reason: 'live test' });
    const data = await waitFor((f) => f.type === 'data' && f.id === 'c1' && (f.event ?? '').includes(command.body.id));
    // The dispatcher sends it to the simulator, which holds it for the Class A device: announced again.
    const sent = await waitFor((f) => f.type === 'data' && (f.event ?? '').includes(command.body.id) && (f.event ?? '').includes('"sent"'));
    ws.close();

    expect(refused.type).toBe('subscribe_error');
    expect(JSON.parse(data.event ?? '{}')).toMatchObject({ topic: 'commands', meterId: meter.id, commandId: command.body.id });
    expect(JSON.parse(sent.event ?? '{}')).toMatchObject({ status: 'sent', deliveryState: 'awaiting_device' });
  });

  it('takes subscriptions to /quantify/payments and /quantify/parking, and announces a space overridden through the API with its new state', async () => {
    const token = await platform.token('viewer');
    const ws = new WebSocket(wsUrl(), ['aws-appsync-event-ws', header(token)]);
    const frames: { type: string; id?: string; event?: string }[] = [];
    const seen = (match: (f: (typeof frames)[number]) => boolean) =>
      new Promise<(typeof frames)[number]>((resolve) => {
        const check = () => {
          const found = frames.find(match);
          if (!found) return false;
          ws.off('message', check);
          resolve(found);
          return true;
        };
        if (!check()) ws.on('message', check);
      });
    ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as (typeof frames)[number]));
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send(JSON.stringify({ type: 'connection_init' }));
    await seen((f) => f.type === 'connection_ack');
    ws.send(JSON.stringify({ type: 'subscribe', id: 'p1', channel: '/quantify/parking' }));
    ws.send(JSON.stringify({ type: 'subscribe', id: 'pay', channel: '/quantify/payments' }));
    await seen((f) => f.type === 'subscribe_success' && f.id === 'p1');
    await seen((f) => f.type === 'subscribe_success' && f.id === 'pay');

    const space = await api<{ id: string }>('POST', '/parking/spaces', { code: `LIVE-${randomEui().slice(0, 8)}`, name: 'Live bay', zone: 'L' });
    await api('POST', `/parking/spaces/${space.body.id}/override`, { state: 'MAINTENANCE', reason: 'live test' });
    const data = await seen((f) => f.type === 'data' && f.id === 'p1' && (f.event ?? '').includes('MAINTENANCE') && (f.event ?? '').includes(space.body.id));
    ws.close();

    expect(space.status).toBe(201);
    expect(JSON.parse(data.event ?? '{}')).toEqual({ topic: 'parking', spaceId: space.body.id, status: 'MAINTENANCE' });
  });
});
