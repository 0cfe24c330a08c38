// The ChirpStack REST client against a local HTTP server playing ChirpStack (200, 4xx, 5xx, hangs,
// refused connections). Request and response shapes follow chirpstack/chirpstack
// api/proto/api/device.proto at 0a976c82 (EnqueueDeviceQueueItemRequest{queue_item},
// EnqueueDeviceQueueItemResponse{id}, DeviceQueueItem incl. expires_at = 10,
// GetDeviceQueueItemsResponse{total_count, result}) with the routes of its google.api.http options;
// grpc-gateway's error body is google.rpc.Status ({code, message, details}).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ChirpStackClient,
  ChirpStackInvalidResponseError,
  ChirpStackRejectedError,
  ChirpStackUnavailableError,
} from '#adapters/chirpstack-client';
import { DeviceQueueError } from '#app/commands/errors';

interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Reply = (req: SeenRequest, res: http.ServerResponse) => void;

const devEui = '0101010101010101';
const seen: SeenRequest[] = [];
let reply: Reply = (_req, res) => res.writeHead(500).end();
/** Replies left open on purpose (hangs); ended after each test. Keep-alive sockets are left alone. */
const hanging: http.ServerResponse[] = [];

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    seen.push(request);
    reply(request, res);
  });
});

let baseUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => {
  seen.length = 0;
  for (const res of hanging.splice(0)) res.socket?.destroy();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
});

const json = (status: number, body: unknown): Reply => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

// A generous timeout where the fake answers (a loaded CI machine must not turn an answer into a timeout); the
// timeout tests pass a short one.
const client = (timeoutMs = 5_000) => new ChirpStackClient({ baseUrl, apiKey: 'test-key', timeoutMs });

describe('enqueue', () => {
  it('POSTs the queue item with the bearer key and returns the queue item id', async () => {
    // Prepare
    reply = json(200, { id: '42cb6459-a640-46ec-9623-bdff39dc4736' });
    const expiresAt = new Date('2026-02-01T10:00:00.000Z');

    // Act
    const id = await client().enqueue(devEui, {
      data: Uint8Array.of(0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xcd, 0xca),
      fPort: 5,
      confirmed: true,
      expiresAt,
    });

    // Assess
    expect(id).toBe('42cb6459-a640-46ec-9623-bdff39dc4736');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.url).toBe(`/api/devices/${devEui}/queue`);
    expect(seen[0]?.headers['grpc-metadata-authorization']).toBe('Bearer test-key');
    expect(seen[0]?.headers['content-type']).toBe('application/json');
    // The seed's relay-off frame 01 05 00 00 00 00 CD CA is "AQUAAAAAzco=" in base64. (The seed's example
    // body shows "AQUAAAANyg==", which decodes to 7 bytes 01 05 00 00 00 0D CA: a typo in the document.)
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({
      queueItem: { confirmed: true, data: 'AQUAAAAAzco=', fPort: 5, expiresAt: '2026-02-01T10:00:00.000Z' },
    });
  });

  it('leaves expiresAt out when not given and lowercases the DevEUI in the path', async () => {
    // Prepare
    reply = json(200, { id: 'abc' });

    // Act
    await client().enqueue('0016C001F000175A', { data: Uint8Array.of(0xaa), fPort: 15, confirmed: false });

    // Assess
    expect(seen[0]?.url).toBe('/api/devices/0016c001f000175a/queue');
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ queueItem: { confirmed: false, data: 'qg==', fPort: 15 } });
  });

  it('refuses an invalid DevEUI or fPort without calling ChirpStack', async () => {
    const c = client();
    await expect(c.enqueue('not-a-eui', { data: Uint8Array.of(1), fPort: 5, confirmed: false })).rejects.toThrow(
      ChirpStackRejectedError,
    );
    await expect(c.enqueue(devEui, { data: Uint8Array.of(1), fPort: 0, confirmed: false })).rejects.toMatchObject({
      name: 'ChirpStackRejectedError',
      status: 400,
    });
    expect(seen).toHaveLength(0);
  });

  it('reports a 4xx as ChirpStackRejectedError with status, gRPC code and message, not retryable', async () => {
    // Prepare: what grpc-gateway returns for an unknown device (gRPC NotFound = 5).
    reply = json(404, { code: 5, message: 'Object does not exist (id: 0101010101010101)', details: [] });

    // Act
    const result = client().enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false });

    // Assess
    await expect(result).rejects.toBeInstanceOf(ChirpStackRejectedError);
    await expect(result).rejects.toMatchObject({
      status: 404,
      grpcCode: 5,
      retryable: false,
      message: expect.stringContaining('Object does not exist') as unknown,
    });
  });

  it("throws the device queue port's error, whose retryable flag the dispatcher acts on", async () => {
    reply = json(404, { code: 5, message: 'Object does not exist' });
    await expect(client().enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false })).rejects.toSatisfy(
      (e: unknown) => e instanceof DeviceQueueError && !e.retryable,
    );
    reply = json(503, { code: 14, message: 'unavailable' });
    await expect(client().listQueue(devEui)).rejects.toSatisfy((e: unknown) => e instanceof DeviceQueueError && e.retryable);
  });

  it('reports 401 with a plain-text body using that text', async () => {
    reply = (_req, res) => res.writeHead(401, { 'content-type': 'text/plain' }).end('authorization token required');
    await expect(
      client().enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false }),
    ).rejects.toMatchObject({
      name: 'ChirpStackRejectedError',
      status: 401,
      message: expect.stringContaining('token required') as unknown,
    });
  });

  it('reports a 5xx as ChirpStackUnavailableError, retryable', async () => {
    reply = json(503, { code: 14, message: 'connection refused to backend', details: [] });
    await expect(
      client().enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false }),
    ).rejects.toMatchObject({
      name: 'ChirpStackUnavailableError',
      reason: 'server_error',
      status: 503,
      retryable: true,
    });
  });

  it('reports a 429 as retryable', async () => {
    reply = json(429, { code: 8, message: 'slow down' });
    await expect(
      client().enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false }),
    ).rejects.toMatchObject({ name: 'ChirpStackUnavailableError', reason: 'rate_limited', status: 429 });
  });

  it('times out a server that never answers, as ChirpStackUnavailableError', async () => {
    // Prepare
    reply = (_req, res) => void hanging.push(res); // never responds
    const started = Date.now();

    // Act
    const result = client(300).enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false });

    // Assess
    await expect(result).rejects.toBeInstanceOf(ChirpStackUnavailableError);
    await expect(result).rejects.toMatchObject({ reason: 'timeout', retryable: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('times out a server that sends headers and then stalls the body', async () => {
    reply = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":');
      hanging.push(res);
    };
    await expect(
      client(300).enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false }),
    ).rejects.toMatchObject({ name: 'ChirpStackUnavailableError', reason: 'timeout' });
  });

  it('reports a refused connection as ChirpStackUnavailableError', async () => {
    // Prepare: a port that was just freed, so nothing listens on it.
    const spare = http.createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const port = (spare.address() as AddressInfo).port;
    await new Promise<void>((resolve) => spare.close(() => resolve()));
    const c = new ChirpStackClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'k', timeoutMs: 1_000 });

    // Act
    const result = c.enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: 'ChirpStackUnavailableError',
      reason: 'connection',
      message: expect.stringContaining('ECONNREFUSED') as unknown,
    });
  });

  it('reports a 200 without an id as ChirpStackInvalidResponseError', async () => {
    reply = json(200, { queued: true });
    await expect(
      client().enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false }),
    ).rejects.toBeInstanceOf(ChirpStackInvalidResponseError);
  });

  it('reports a 200 with a non-JSON body (e.g. the UI page at a wrong URL) as invalid', async () => {
    reply = (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>ChirpStack</html>');
    await expect(
      client().enqueue(devEui, { data: Uint8Array.of(1), fPort: 5, confirmed: false }),
    ).rejects.toMatchObject({ name: 'ChirpStackInvalidResponseError', retryable: false });
  });
});

describe('listQueue', () => {
  it('GETs the queue and decodes items (base64 data, timestamps)', async () => {
    // Prepare: as emitted with EmitUnpopulated (unset expiresAt/object as null).
    reply = json(200, {
      totalCount: 2,
      result: [
        {
          id: '1bbcab1d-6ec6-4136-b3f5-d63be1dc08de',
          devEui,
          confirmed: true,
          fPort: 5,
          data: 'AQUAAAAAzco=',
          object: null,
          isPending: true,
          fCntDown: 3,
          isEncrypted: false,
          expiresAt: '2026-02-01T10:00:00.123456789Z',
        },
        {
          id: '2',
          devEui,
          confirmed: false,
          fPort: 15,
          data: 'AAD/ZAA=',
          isPending: false,
          fCntDown: 0,
          expiresAt: null,
        },
      ],
    });

    // Act
    const queue = await client().listQueue(devEui);

    // Assess
    expect(seen[0]?.method).toBe('GET');
    expect(seen[0]?.url).toBe(`/api/devices/${devEui}/queue`);
    expect(seen[0]?.headers['grpc-metadata-authorization']).toBe('Bearer test-key');
    expect(queue.totalCount).toBe(2);
    expect(queue.items[0]).toEqual({
      id: '1bbcab1d-6ec6-4136-b3f5-d63be1dc08de',
      devEui,
      confirmed: true,
      fPort: 5,
      data: Uint8Array.of(0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0xcd, 0xca),
      isPending: true,
      fCntDown: 3,
      isEncrypted: false,
      expiresAt: new Date('2026-02-01T10:00:00.123Z'),
    });
    expect(queue.items[1]?.data).toEqual(Uint8Array.of(0x00, 0x00, 0xff, 0x64, 0x00));
    expect(queue.items[1]?.expiresAt).toBeUndefined();
  });

  it('treats omitted zero values as protobuf defaults (an empty queue is {})', async () => {
    reply = json(200, {});
    await expect(client().listQueue(devEui)).resolves.toEqual({ totalCount: 0, items: [] });
  });

  it('rejects a listing whose items are malformed', async () => {
    reply = json(200, { totalCount: 1, result: [{ id: 'x', data: '***' }] });
    await expect(client().listQueue(devEui)).rejects.toBeInstanceOf(ChirpStackInvalidResponseError);
  });
});

describe('flushQueue', () => {
  it('DELETEs the queue', async () => {
    // Prepare
    reply = json(200, {});

    // Act
    await client().flushQueue(devEui);

    // Assess
    expect(seen[0]?.method).toBe('DELETE');
    expect(seen[0]?.url).toBe(`/api/devices/${devEui}/queue`);
    expect(seen[0]?.headers['grpc-metadata-authorization']).toBe('Bearer test-key');
  });

  it('reports 5xx on flush as unavailable', async () => {
    reply = json(500, { code: 13, message: 'internal' });
    await expect(client().flushQueue(devEui)).rejects.toBeInstanceOf(ChirpStackUnavailableError);
  });
});

describe('options', () => {
  it('refuse a base URL that is not http(s) or an empty key', () => {
    expect(() => new ChirpStackClient({ baseUrl: 'localhost:8090', apiKey: 'k' })).toThrow();
    expect(() => new ChirpStackClient({ baseUrl: 'http://localhost:8090', apiKey: '' })).toThrow();
  });

  it('tolerate a trailing slash on the base URL', async () => {
    reply = json(200, {});
    await new ChirpStackClient({ baseUrl: `${baseUrl}/`, apiKey: 'k' }).flushQueue(devEui);
    expect(seen[0]?.url).toBe(`/api/devices/${devEui}/queue`);
  });
});
