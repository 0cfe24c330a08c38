// The collector: one poll loop per gateway (meters sequential on it, gateways in parallel), every cycle's
// readings into the on-disk buffer, a sender posting the buffer to the platform, a progress line per
// cycle and a small status endpoint (GET /status, GET /health). Runs as `npm run collector` on site, or
// inside `npm start` (COLLECTOR_ENABLED).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DiskBuffer } from './buffer.ts';
import type { CollectorConfig, GatewayConfig } from './config.ts';
import { ModbusGateway, type RegisterReader } from './modbus-gateway.ts';
import { GatewayPoller, type CycleResult, type MeterStatus } from './poller.ts';
import { httpPost, Sender, type Post, type SenderStatus } from './sender.ts';
import { clientCredentialsToken, staticToken, type TokenSource } from './token.ts';

/** The credential the configuration names: client credentials (cloud) or a fixed token (local). */
export const tokenSourceOf = (config: CollectorConfig): TokenSource =>
  config.clientCredentials ? clientCredentialsToken(config.clientCredentials, config.apiTimeoutMs) : staticToken(config.token);

export type CollectorLog = (level: 'info' | 'warn', message: string, details?: Record<string, unknown>) => void;

export interface GatewayStatus {
  name: string;
  pollIntervalS: number;
  cycles: number;
  lastCycleMs: number | null;
  maxCycleMs: number | null;
  /** Cycles that took longer than the poll interval (the next one started late). */
  behind: number;
  meters: MeterStatus[];
}

export interface CollectorStatus {
  startedAt: string;
  gateways: GatewayStatus[];
  buffer: ReturnType<DiskBuffer['stats']>;
  upload: SenderStatus;
}

export interface Collector {
  status(): CollectorStatus;
  /** The status endpoint's URL, when it runs. */
  statusUrl: string | undefined;
  /** Resolves after the next cycle of every gateway has been buffered (tests and the demo wait on it). */
  nextCycles(): Promise<void>;
  stop(): Promise<void>;
}

export interface CollectorDeps {
  log: CollectorLog;
  /** Defaults to a modbus-serial connection per gateway. */
  readerFor?: (gateway: GatewayConfig) => RegisterReader;
  /** Defaults to fetch to API_BASE_URL/readings. */
  post?: Post;
}

interface Loop {
  poller: GatewayPoller;
  reader: RegisterReader;
  status: GatewayStatus;
  waiters: (() => void)[];
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
}

export async function startCollector(config: CollectorConfig, deps: CollectorDeps): Promise<Collector> {
  const { log } = deps;
  const startedAt = new Date().toISOString();
  const buffer = await DiskBuffer.open(config.bufferDir, config.bufferMaxReadings, (readings, files) =>
    log('warn', 'buffer full: dropped the oldest readings', { droppedReadings: readings, files, maxReadings: config.bufferMaxReadings }),
  );
  const pending = buffer.stats();
  if (pending.readings) log('info', 'buffered readings from before the restart will be replayed', { readings: pending.readings, files: pending.files });
  const sender = new Sender(buffer, deps.post ?? httpPost(config.apiBaseUrl, tokenSourceOf(config), config.apiTimeoutMs), config.batchSize, log);
  let stopping = false;

  const loops: Loop[] = config.gateways.map((gateway) => {
    const reader = deps.readerFor?.(gateway) ?? new ModbusGateway(gateway);
    const poller = new GatewayPoller(gateway, reader);
    return {
      poller,
      reader,
      waiters: [],
      timer: undefined,
      running: undefined,
      status: { name: poller.name, pollIntervalS: gateway.pollIntervalS, cycles: 0, lastCycleMs: null, maxCycleMs: null, behind: 0, meters: poller.statuses() },
    };
  });

  const report = (loop: Loop, cycle: CycleResult) => {
    const s = loop.status;
    for (const meterId of cycle.lost) log('warn', 'meter not answering: backing off', { gateway: s.name, meterId, error: loop.poller.statuses().find((m) => m.meterId === meterId)?.lastError });
    for (const meterId of cycle.recovered) log('info', 'meter answering again', { gateway: s.name, meterId });
    if (!config.quiet) {
      const b = buffer.stats();
      log('info', 'poll cycle', {
        gateway: s.name, cycleMs: cycle.cycleMs, read: cycle.read, failed: cycle.failed, backedOff: cycle.skipped,
        buffered: b.readings, posted: sender.status.postedReadings, platformReachable: sender.status.platformReachable,
      });
    }
  };

  const runCycle = async (loop: Loop) => {
    const started = Date.now();
    const cycle = await loop.poller.pollCycle();
    try {
      await buffer.append(cycle.readings);
    } catch (error) {
      log('warn', 'readings could not be written to the buffer', { error: (error as Error).message, readings: cycle.readings.length });
    }
    sender.nudge();
    const s = loop.status;
    s.cycles++;
    s.lastCycleMs = cycle.cycleMs;
    s.maxCycleMs = Math.max(s.maxCycleMs ?? 0, cycle.cycleMs);
    s.meters = loop.poller.statuses();
    report(loop, cycle);
    for (const resolve of loop.waiters.splice(0)) resolve();
    if (stopping) return;
    const intervalMs = loop.poller.gateway.pollIntervalS * 1000;
    const elapsed = Date.now() - started;
    if (elapsed > intervalMs) s.behind++;
    loop.timer = setTimeout(() => {
      loop.running = runCycle(loop);
    }, Math.max(0, intervalMs - elapsed));
  };

  sender.start();
  for (const loop of loops) loop.running = runCycle(loop);

  let server: Server | undefined;
  let statusUrl: string | undefined;
  const status = (): CollectorStatus => ({
    startedAt,
    gateways: loops.map((l) => ({ ...l.status, meters: l.poller.statuses() })),
    buffer: buffer.stats(),
    upload: { ...sender.status },
  });
  if (config.statusPort !== 'off') {
    server = createServer((req, res) => {
      const url = req.url?.split('?')[0];
      if (req.method === 'GET' && (url === '/status' || url === '/health')) {
        const body = url === '/status' ? status() : { status: 'ok' };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"GET /status or /health"}');
      }
    });
    const port = config.statusPort;
    await new Promise<void>((resolve, reject) => {
      server?.once('error', reject);
      server?.listen(port, config.statusHost, () => resolve());
    });
    statusUrl = `http://${config.statusHost}:${(server.address() as AddressInfo).port}`;
  }

  return {
    status,
    statusUrl,
    nextCycles: () => Promise.all(loops.map((l) => new Promise<void>((resolve) => l.waiters.push(resolve)))).then(() => undefined),
    stop: async () => {
      stopping = true;
      for (const loop of loops) clearTimeout(loop.timer);
      await Promise.all(loops.map((l) => l.running ?? Promise.resolve()));
      await sender.stop();
      await Promise.all(loops.map((l) => l.reader.close()));
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}
