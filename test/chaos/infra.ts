// What one chaos run stands on: its own Mosquitto (private port, persistence in a temp dir), a fresh
// PostgreSQL schema reached through a loopback TCP proxy, a ChirpStack simulator behind a fault-injecting
// HTTP front (both in the harness, so they outlive platform restarts as the real ones would), and the
// platform itself as a child process (`node --import tsx functions/runtime/main.ts`) that can be SIGKILLed,
// SIGTERMed and restarted.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import pg from 'pg';
import { parseChirpstackTopic } from '#domain/topics';
import type { Role } from '#domain/roles';
import { localAuth, loadOrCreateKey } from '#runtime/auth';
import { ChirpStackSimulator } from '#runtime/chirpstack-sim/index';
import { logger } from '#shared/logger';
import { freePort, startMosquitto as startBroker, type Broker } from '../support/mosquitto.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

export type { Broker };

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, ms: number, fn: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------- Mosquitto

/** The harness's broker: persistent (a broker restart keeps what it queued), logging beside the run. */
export const startMosquitto = (dir: string): Promise<Broker> => startBroker(dir, { persistence: true, log: true });

// ---------------------------------------------------------------------------------------------- PostgreSQL

export interface Database {
  /** What the platform gets: through the proxy, search_path set to the run's schema. */
  platformUrl: string;
  proxy: TcpProxy;
  schema: string;
  /** A direct connection (not through the proxy) for the harness's own queries. */
  query<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** pg_terminate_backend on the platform's connections (what a database restart does to them). */
  terminateBackends(): Promise<number>;
  drop(): Promise<void>;
}

export async function openDatabase(databaseUrl: string, schema: string): Promise<Database> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const direct = new URL(databaseUrl);
  const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  const through = new URL(proxy.url(databaseUrl));
  through.searchParams.set('options', `-c search_path=${schema}`);
  through.searchParams.set('application_name', `chaos-${schema}`);
  const inSchema = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
  await inSchema.connect();
  return {
    platformUrl: through.toString(),
    proxy,
    schema,
    query: async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await inSchema.query<T>(sql, params)).rows,
    terminateBackends: async () => {
      const r = await admin.query<{ n: string }>(
        `SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
        [`chaos-${schema}`],
      );
      return Number(r.rows[0]?.n ?? 0);
    },
    drop: async () => {
      await inSchema.end().catch(() => undefined);
      await proxy.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await admin.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------- ChirpStack

/** What the front does to the next enqueue (POST) requests. */
export type EnqueueFault =
  | { kind: 'ok'; delayMs?: number }
  /** Refused before it reaches the queue (nothing enqueued). */
  | { kind: 'status-before'; status: 500 | 429 }
  /** Enqueued, then answered with an error: the outcome is unknown to the platform. */
  | { kind: 'status-after'; status: 500 | 429 }
  /** Enqueued, then no answer at all (the client times out). */
  | { kind: 'hang-after' };

export interface ChirpStack {
  url: string;
  apiKey: string;
  /** The fault for the next enqueue of a device (then 'ok'). */
  faultNext(devEui: string, fault: EnqueueFault): void;
  /** Per device: queue items the simulator accepted, flush calls, queue listings, and downlinks transmitted (txack seen). */
  perDevice(devEui: string): { enqueued: number; flushes: number; transmitted: number; listed: number };
  stop(): Promise<void>;
}

export async function startChirpStack(brokerUrl: string, clientId: string): Promise<ChirpStack> {
  logger.setLogLevel('SILENT');
  const client: MqttClient = await mqtt.connectAsync(brokerUrl, { clientId, clean: true, reconnectPeriod: 300 });
  const simulator = new ChirpStackSimulator({ mqtt: client, port: 0, logger });
  const { url: simUrl } = await simulator.start();
  const counts = new Map<string, { enqueued: number; flushes: number; transmitted: number; listed: number }>();
  const of = (devEui: string) => {
    let c = counts.get(devEui);
    if (!c) counts.set(devEui, (c = { enqueued: 0, flushes: 0, transmitted: 0, listed: 0 }));
    return c;
  };
  // Downlinks the simulator transmitted: what would switch a relay.
  client.on('message', (topic) => {
    const t = parseChirpstackTopic(topic);
    if (t?.type === 'txack') of(t.devEui).transmitted++;
  });
  await client.subscribeAsync('application/+/device/+/event/txack', { qos: 1 });

  const faults = new Map<string, EnqueueFault>();
  const hanging = new Set<http.ServerResponse>();
  const front = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const devEui = /\/api\/devices\/([0-9a-f]{16})\/queue/.exec(req.url ?? '')?.[1] ?? '';
      const fault: EnqueueFault = req.method === 'POST' ? (faults.get(devEui) ?? { kind: 'ok' }) : { kind: 'ok' };
      if (req.method === 'POST') faults.delete(devEui);
      if (fault.kind === 'status-before') {
        res.writeHead(fault.status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: fault.status === 429 ? 8 : 13, message: 'chaos', details: [] }));
        return;
      }
      if (fault.kind === 'ok' && fault.delayMs) await sleep(fault.delayMs);
      const answer = await fetch(`${simUrl}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers: { 'content-type': 'application/json', 'grpc-metadata-authorization': String(req.headers['grpc-metadata-authorization'] ?? '') },
        ...(body.length ? { body } : {}),
      });
      const text = await answer.text();
      if (answer.ok && req.method === 'POST') of(devEui).enqueued++;
      if (answer.ok && req.method === 'DELETE') of(devEui).flushes++;
      if (answer.ok && req.method === 'GET') of(devEui).listed++;
      if (fault.kind === 'status-after') {
        res.writeHead(fault.status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: fault.status === 429 ? 8 : 13, message: 'chaos (enqueued)', details: [] }));
        return;
      }
      if (fault.kind === 'hang-after') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  return {
    url,
    apiKey: 'chaos-simulator',
    faultNext: (devEui, fault) => faults.set(devEui, fault),
    perDevice: (devEui) => ({ ...of(devEui) }),
    stop: async () => {
      for (const res of hanging) res.destroy();
      await new Promise<void>((resolve) => {
        front.close(() => resolve());
        front.closeAllConnections();
      });
      await simulator.stop();
      await client.endAsync();
    },
  };
}

// ---------------------------------------------------------------------------------------------- platform

export interface PlatformProcess {
  httpUrl: string;
  token(role: Role): Promise<string>;
  start(): Promise<void>;
  /** Signal the process and wait for it to exit (SIGTERM: its clean stop; SIGKILL: a crash). */
  signal(sig: 'SIGKILL' | 'SIGTERM'): Promise<{ code: number | null; signal: string | null }>;
  /** Exits the harness did not cause (the process died on its own); the harness restarts it. */
  unexpectedExits: { code: number | null; signal: string | null }[];
  running(): boolean;
  stop(): Promise<void>;
}

export async function platformProcess(options: {
  dataDir: string;
  logFile: string;
  env: Record<string, string>;
}): Promise<PlatformProcess> {
  const port = await freePort();
  const httpUrl = `http://127.0.0.1:${port}`;
  await mkdir(options.dataDir, { recursive: true });
  const auth = localAuth(await loadOrCreateKey(options.dataDir), 'quantify-local', 'quantify-api');
  const log: WriteStream = createWriteStream(options.logFile, { flags: 'a' });
  let child: ChildProcess | undefined;
  let expectingExit = false;
  let supervising = true;
  const unexpectedExits: PlatformProcess['unexpectedExits'] = [];

  const start = async (): Promise<void> => {
    expectingExit = false;
    const c = spawn(process.execPath, ['--import', 'tsx', 'functions/runtime/main.ts'], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: String(port),
        DATA_DIR: options.dataDir,
        LOG_LEVEL: 'WARN',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    c.stdout?.pipe(log, { end: false });
    c.stderr?.pipe(log, { end: false });
    c.once('exit', (code, signal) => {
      log.write(`\n[chaos] platform exited code=${code} signal=${signal}\n`);
      if (child === c) child = undefined;
      if (!expectingExit && supervising) {
        // What a supervisor (systemd, ECS) does: note it and start again.
        unexpectedExits.push({ code, signal });
        setTimeout(() => {
          if (supervising && !child) void start().catch(() => undefined);
        }, 500);
      }
    });
    await waitFor('platform healthy', 90_000, async () => {
      if (!child) return false;
      const r = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      return r.status === 200;
    });
  };

  return {
    httpUrl,
    token: (role) => auth.sign(role),
    start,
    signal: async (sig) => {
      const c = child;
      if (!c) return { code: null, signal: null };
      expectingExit = true;
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => c.once('exit', (code, signal) => resolve({ code, signal })));
      c.kill(sig);
      const result = await Promise.race([exited, sleep(30_000).then(() => undefined)]);
      if (result) return result;
      c.kill('SIGKILL');
      return { ...(await exited), signal: 'SIGKILL (SIGTERM took over 30 s)' };
    },
    unexpectedExits,
    running: () => child !== undefined,
    stop: async () => {
      supervising = false;
      const c = child;
      if (c) {
        expectingExit = true;
        const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
        c.kill('SIGTERM');
        await Promise.race([exited, sleep(20_000)]);
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGKILL');
          await exited;
        }
      }
      await new Promise<void>((resolve) => log.end(() => resolve()));
    },
  };
}
