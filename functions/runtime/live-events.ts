// The portal's live channel on the local HTTP server: a WebSocket at /event/realtime speaking the subset of
// the AWS AppSync Events protocol the portal uses (subprotocol `aws-appsync-event-ws`, the bearer token in a
// `header-<base64url JSON>` subprotocol, connection_init/ack, subscribe/unsubscribe, data, ka), so the same
// browser code talks to an AppSync Events API in the cloud. Only the portal's channels (/quantify/commands,
// /quantify/meters, /quantify/payments, /quantify/accounts, /quantify/parking) exist here: devices' MQTT topics are not reachable from a browser at all.
// While anyone is subscribed, the live feed is polled every second and its events are sent out.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import * as z from 'zod';
import { principalFromClaims } from '#app/http/principal';
import { liveChannelOf, liveChannels } from '#app/portal/live-events';
import type { LiveEvent, LiveFeed } from '#app/portal/live-feed';
import type { Logger } from '#shared/logger';
import type { LocalAuth } from './auth.ts';
import { OutageLog } from './outage.ts';

export const LIVE_PATH = '/event/realtime';
const SUBPROTOCOL = 'aws-appsync-event-ws';
const channels = liveChannels;
const channelOf = liveChannelOf;
const KEEP_ALIVE_MS = 60_000;
const CONNECTION_TIMEOUT_MS = 5 * 60_000;

const authHeader = z.object({ Authorization: z.string().min(1) });
const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('connection_init') }),
  z.object({ type: z.literal('subscribe'), id: z.string().min(1).max(128), channel: z.string().max(256), authorization: authHeader.optional() }),
  z.object({ type: z.literal('unsubscribe'), id: z.string().min(1).max(128) }),
]);

interface Client {
  socket: WebSocket;
  /** subscription id → channel */
  subscriptions: Map<string, string>;
}

export interface LiveChannel {
  /** Send events now (the poller does this; tests may too). */
  publish(events: readonly LiveEvent[]): void;
  close(): Promise<void>;
}

/** The bearer token a browser put in its `header-…` subprotocol (browsers cannot set headers on a WebSocket). */
function tokenOf(protocols: readonly string[]): string | undefined {
  const header = protocols.find((p) => p.startsWith('header-'));
  if (!header) return undefined;
  try {
    const parsed = authHeader.safeParse(JSON.parse(Buffer.from(header.slice('header-'.length), 'base64url').toString('utf8')));
    return parsed.success ? parsed.data.Authorization.replace(/^Bearer\s+/i, '') : undefined;
  } catch {
    return undefined;
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export function startLiveChannel(options: { server: http.Server; auth: LocalAuth; feed: LiveFeed; now: () => Date; logger: Logger; pollMs?: number }): LiveChannel {
  const { server, auth, feed, logger } = options;
  const clients = new Set<Client>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== LIVE_PATH) return refuse(socket, 404, 'Not Found');
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const token = tokenOf(protocols);
    if (!protocols.includes(SUBPROTOCOL) || !token) return refuse(socket, 401, 'Unauthorized');
    auth.verify(token).then(
      (claims) => {
        // Any role may watch: every event only names what changed, and reading it takes the API.
        if (!principalFromClaims(claims)?.roles.length) return refuse(socket, 403, 'Forbidden');
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws));
      },
      () => refuse(socket, 401, 'Unauthorized'),
    );
  };
  server.on('upgrade', onUpgrade);

  const send = (client: Client, message: unknown) => {
    if (client.socket.readyState === client.socket.OPEN) client.socket.send(JSON.stringify(message));
  };

  function accept(socket: WebSocket): void {
    const client: Client = { socket, subscriptions: new Map() };
    clients.add(client);
    socket.on('close', () => clients.delete(client));
    socket.on('error', () => clients.delete(client));
    socket.on('message', (data: Buffer) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString('utf8'));
      } catch {
        return send(client, { type: 'error', errors: [{ errorType: 'BadRequestException', message: 'not JSON' }] });
      }
      const message = clientMessage.safeParse(parsed);
      if (!message.success) return send(client, { type: 'error', errors: [{ errorType: 'BadRequestException', message: 'unknown or malformed message' }] });
      const m = message.data;
      if (m.type === 'connection_init') return send(client, { type: 'connection_ack', connectionTimeoutMs: CONNECTION_TIMEOUT_MS });
      if (m.type === 'unsubscribe') {
        client.subscriptions.delete(m.id);
        return send(client, { type: 'unsubscribe_success', id: m.id });
      }
      if (!channels.includes(m.channel)) {
        return send(client, { type: 'subscribe_error', id: m.id, errors: [{ errorType: 'UnauthorizedException', message: `no channel ${m.channel}: ${channels.join(', ')}` }] });
      }
      client.subscriptions.set(m.id, m.channel);
      send(client, { type: 'subscribe_success', id: m.id });
      wake();
    });
  }

  const publish = (events: readonly LiveEvent[]) => {
    for (const event of events) {
      const channel = channelOf[event.topic];
      const text = JSON.stringify(event);
      for (const client of clients) {
        for (const [id, subscribed] of client.subscriptions) if (subscribed === channel) send(client, { type: 'data', id, event: text });
      }
    }
  };

  // Polls only while someone listens; one poll at a time.
  const outage = new OutageLog(logger, 'portal live feed');
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | undefined;
  let closed = false;
  const listening = () => [...clients].some((c) => c.subscriptions.size > 0);
  function wake(): void {
    if (timer || closed) return;
    timer = setTimeout(tick, options.pollMs ?? 1_000);
  }
  function tick(): void {
    timer = undefined;
    if (closed || !listening()) return;
    polling = feed
      .poll(options.now())
      .then((events) => {
        outage.succeeded();
        publish(events);
      })
      .catch((error: unknown) => {
        outage.failed(error, {}, 'portal live feed failed');
      })
      .finally(() => {
        polling = undefined;
        wake();
      });
  }
  const keepAlive = setInterval(() => {
    for (const client of clients) send(client, { type: 'ka' });
  }, KEEP_ALIVE_MS);
  keepAlive.unref();

  return {
    publish,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      clearInterval(keepAlive);
      server.off('upgrade', onUpgrade);
      await polling;
      // Cut, not closed with a handshake: a browser that no longer answers would hold the stop for ws's 30 s
      // close timeout. The portal reconnects with back-off and reloads what it shows.
      for (const client of clients) client.socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
