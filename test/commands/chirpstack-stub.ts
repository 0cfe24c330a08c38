// A ChirpStack REST stub on loopback (node:http) whose behaviour a test sets: accept (and keep the queue
// as ChirpStack would), answer 5xx, refuse with 4xx, or take the request and never answer (a timeout);
// or queue the item and then answer 500 or never (an outcome the dispatcher cannot know). Listing the
// queue can be made to fail or hang on its own.
// The real ChirpStackClient talks to it, so the dispatcher meets the client's real typed errors.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubMode = 'accept' | 'server_error' | 'reject' | 'hang' | 'accept_then_hang' | 'accept_then_error';
/** How GET /queue answers: the queue ('ok'), 503, or never. */
export type StubListMode = 'ok' | 'server_error' | 'hang';

export interface StubItem {
  id: string;
  devEui: string;
  fPort: number;
  confirmed: boolean;
  data: string;
}

export interface ChirpStackStub {
  url: string;
  mode: StubMode;
  listMode: StubListMode;
  /** POST /queue requests received, whatever the answer. */
  enqueueCalls: number;
  listCalls: number;
  /** Items accepted, in order (also those whose answer was never sent, in accept_then_hang mode). */
  items: StubItem[];
  close(): Promise<void>;
}

export async function startChirpStackStub(mode: StubMode = 'accept'): Promise<ChirpStackStub> {
  const hanging = new Set<http.ServerResponse>();
  const stub: ChirpStackStub = { url: '', mode, listMode: 'ok', enqueueCalls: 0, listCalls: 0, items: [], close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const match = /^\/api\/devices\/([0-9a-f]{16})\/queue$/.exec(req.url ?? '');
      const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (!match) return send(404, { code: 5, message: 'not found' });
      const devEui = match[1] ?? '';
      if (req.method === 'GET') {
        stub.listCalls++;
        if (stub.listMode === 'server_error') return send(500, { code: 13, message: 'internal error' });
        if (stub.listMode === 'hang') {
          hanging.add(res);
          return;
        }
        const mine = stub.items.filter((i) => i.devEui === devEui);
        return send(200, { totalCount: mine.length, result: mine.map((i) => ({ ...i, isPending: false, fCntDown: 0, isEncrypted: false, expiresAt: null })) });
      }
      stub.enqueueCalls++;
      switch (stub.mode) {
        case 'server_error':
          return send(503, { code: 14, message: 'upstream unavailable' });
        case 'reject':
          return send(404, { code: 5, message: 'Object does not exist (id: device)' });
        case 'hang':
          hanging.add(res);
          return;
        default: {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { queueItem: { fPort: number; confirmed?: boolean; data: string } };
          const item = { id: randomUUID(), devEui, fPort: body.queueItem.fPort, confirmed: body.queueItem.confirmed ?? false, data: body.queueItem.data };
          stub.items.push(item);
          if (stub.mode === 'accept_then_hang') {
            hanging.add(res);
            return;
          }
          if (stub.mode === 'accept_then_error') return send(500, { code: 13, message: 'queued, then failed to answer' });
          return send(200, { id: item.id });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stub.close = async () => {
    for (const res of hanging) res.destroy();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  return stub;
}

/** A loopback URL nothing listens on (connection refused). */
export async function refusingUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
