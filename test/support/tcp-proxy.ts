// A loopback TCP proxy for fault tests: put it between a client and a server (PostgreSQL, a broker) and
// break the line on demand. partition() is a silent partition: sockets stay open, no byte goes either way
// (what a dropped route or a frozen peer looks like; only timeouts notice it). terminateAll() is a reset
// of every open connection (what a restart or pg_terminate_backend looks like from the client). refuse()
// turns new connections away (a server that is down).
import net from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** Rewrites host:port in a postgres://... (or any scheme://) URL to the proxy. */
  url(base: string): string;
  /** Keep sockets open but stop forwarding bytes both ways (a silent partition). */
  partition(): void;
  /** Forward again; bytes held during the partition are delivered. */
  heal(): void;
  /** Destroy every open connection. */
  terminateAll(): void;
  /** Refuse new connections (accepted then destroyed at once) while on. */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let partitioned = false;
  let refusing = false;

  const destroy = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.server.destroy();
  };

  const server = net.createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: target.host, port: target.port });
    const pair: Pair = { client, server: upstream };
    pairs.add(pair);
    if (partitioned) {
      client.pause();
      upstream.pause();
    }
    // Manual forwarding (not pipe) so a partition holds bytes in the kernel buffers, not in ours.
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => {
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => {
            if (!partitioned) from.resume();
          });
        }
      });
      from.on('end', () => to.end());
      from.on('error', () => destroy(pair));
      from.on('close', () => destroy(pair));
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url(base: string) {
      const u = new URL(base);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    partition() {
      partitioned = true;
      for (const { client, server: upstream } of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    heal() {
      partitioned = false;
      for (const { client, server: upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    terminateAll() {
      for (const pair of [...pairs]) destroy(pair);
    },
    refuse(on: boolean) {
      refusing = on;
    },
    async close() {
      for (const pair of [...pairs]) destroy(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
