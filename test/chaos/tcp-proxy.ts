// A loopback TCP proxy the chaos harness puts between the platform and PostgreSQL, to cut, stall and
// refuse its connections. Interim copy with the interface of test/support/tcp-proxy.ts (written for the
// database-fault work); when that lands, import it from there and delete this file.
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  port: number;
  /** `base` (a URL) with its host and port replaced by the proxy's. */
  url(base: string): string;
  /** Stop forwarding bytes both ways (connections stay open, silent: a network partition). */
  partition(): void;
  /** Forward again, including what was held during the partition. */
  heal(): void;
  /** Reset every open connection (what a database restart or pg_terminate_backend looks like). */
  terminateAll(): void;
  /** While on, new connections are closed at once (the database is down). */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let partitioned = false;
  let refusing = false;

  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (partitioned) {
      client.pause();
      upstream.pause();
    } else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  // pipe() resumes a source when its destination drains; unpipe while partitioned so nothing flows.
  const hold = (on: boolean) => {
    for (const { client, upstream } of pairs) {
      if (on) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      } else {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        upstream.resume();
      }
    }
  };

  return {
    port,
    url(base) {
      const url = new URL(base);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      return url.toString();
    },
    partition() {
      partitioned = true;
      hold(true);
    },
    heal() {
      partitioned = false;
      hold(false);
    },
    terminateAll() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    refuse(on) {
      refusing = on;
    },
    close: async () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
