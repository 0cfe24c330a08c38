// A stand-in for ChirpStack in the local runtime (used when CHIRPSTACK_API_URL is not set): the REST
// device-queue endpoints the client in #adapters/chirpstack-client calls, and Class A delivery over MQTT:
// a device's queued downlink goes out only when that device sends an uplink, and is reported with the
// same txack / ack / log events ChirpStack v4 publishes. Optionally it plays the UC100 + meter too,
// answering a Modbus write sent through the pass-through fPort with the meter's response as an uplink.
import { randomInt, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MqttClient } from 'mqtt';
import * as z from 'zod';
import { expectedEcho, parseWriteRequest } from '#domain/modbus';
import { logger as defaultLogger, type Logger } from '#shared/logger';

export const chirpStackSimulatorOptionsSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port. */
  port: z.number().int().min(0).max(65535).default(0),
  /** When set, requests must carry exactly this bearer key; otherwise any non-empty bearer is accepted. */
  apiKey: z.string().min(1).optional(),
  /** Answer Modbus writes on the pass-through fPort as a UC100 with a meter on its RS485 bus would. */
  emulateDevices: z.boolean().default(true),
  /** UC100 pass-through port (seed relay-control-plan: port 5). */
  passThroughFPort: z.number().int().min(1).max(223).default(5),
  /** Delay between the downlink's txack and the emulated device's answering uplink. */
  deviceResponseDelayMs: z.number().int().min(0).max(60_000).default(20),
  /** Gateway reported in txack and generated uplinks (ChirpStack's documentation example gateway). */
  gatewayId: z.string().regex(/^[0-9a-f]{16}$/).default('0016c001f153a14c'),
  /** Bounds memory: further enqueues for a device get 429 until its queue drains. */
  maxQueuePerDevice: z.number().int().min(1).max(100_000).default(1_000),
});
export type ChirpStackSimulatorOptions = z.input<typeof chirpStackSimulatorOptionsSchema> & {
  /** Connected client of the broker the runtime uses; the simulator subscribes and publishes with it. */
  mqtt: MqttClient;
  now?: () => Date;
  logger?: Logger;
};

export interface ChirpStackSimulatorCounters {
  /** Queue items accepted by POST. */
  enqueued: number;
  /** Queue items transmitted (txack published). */
  delivered: number;
  /** Confirmed items acknowledged (ack published). */
  acknowledged: number;
  /** Items dropped because expiresAt passed before a delivery opportunity. */
  expired: number;
  /** Items removed by DELETE (flush). */
  flushed: number;
  /** Uplinks published by device emulation. */
  emulatedUplinks: number;
}

const UP_TOPIC_FILTER = 'application/+/device/+/event/up';
const UP_TOPIC = /^application\/([^/]+)\/device\/([0-9a-fA-F]{16})\/event\/up$/;
const QUEUE_PATH = /^\/api\/devices\/([^/]+)\/queue$/;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_REMEMBERED_UPLINKS = 10_000;

const base64Schema = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

// EnqueueDeviceQueueItemRequest as proto3 JSON (api/proto/api/device.proto). Unknown fields are ignored,
// as grpc-gateway does; dev_eui comes from the path, which wins over the body as in grpc-gateway.
const enqueueBodySchema = z.object({
  queueItem: z.object({
    devEui: z.string().optional(),
    confirmed: z.boolean().default(false),
    fPort: z.number().int().min(1).max(223),
    data: base64Schema.default(''),
    expiresAt: z.iso.datetime({ offset: true }).nullish(),
  }),
});

// The parts of a ChirpStack v4 UplinkEvent the simulator reads; the rest is passed over.
const deviceInfoSchema = z.object({ applicationId: z.string(), devEui: z.string() }).loose();
const upEventSchema = z
  .object({
    deduplicationId: z.string().optional(),
    deviceInfo: deviceInfoSchema.optional(),
    devAddr: z.string().optional(),
    fCnt: z.number().int().min(0).optional(),
    txInfo: z
      .object({
        frequency: z.number().optional(),
        modulation: z
          .object({ lora: z.object({ spreadingFactor: z.number().optional() }).loose().optional() })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
type DeviceInfo = z.infer<typeof deviceInfoSchema>;

interface QueuedItem {
  id: string;
  devEui: string;
  confirmed: boolean;
  fPort: number;
  data: Uint8Array;
  expiresAt: Date | undefined;
}

interface DeviceState {
  queue: QueuedItem[];
  nextFCntDown: number;
  lastFCnt: number;
  deviceInfo?: DeviceInfo;
  devAddr?: string;
  frequency?: number;
  spreadingFactor?: number;
}

class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class ChirpStackSimulator {
  private readonly options: z.infer<typeof chirpStackSimulatorOptionsSchema>;
  private readonly mqtt: MqttClient;
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly devices = new Map<string, DeviceState>();
  private readonly seenUplinks = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly stats: ChirpStackSimulatorCounters = {
    enqueued: 0,
    delivered: 0,
    acknowledged: 0,
    expired: 0,
    flushed: 0,
    emulatedUplinks: 0,
  };
  private server: http.Server | undefined;
  private running = false;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    const match = UP_TOPIC.exec(topic);
    if (!match || !this.running) return;
    this.track(this.handleUplink(match[1] ?? '', (match[2] ?? '').toLowerCase(), payload));
  };

  constructor(options: ChirpStackSimulatorOptions) {
    const { mqtt, now, logger, ...rest } = options;
    this.options = chirpStackSimulatorOptionsSchema.parse(rest);
    this.mqtt = mqtt;
    this.now = now ?? (() => new Date());
    this.log = logger ?? defaultLogger;
  }

  get counters(): Readonly<ChirpStackSimulatorCounters> {
    return { ...this.stats };
  }

  async start(): Promise<{ url: string }> {
    if (this.server) throw new Error('ChirpStack simulator already started');
    const server = http.createServer((req, res) => this.track(this.handleHttp(req, res)));
    this.server = server;
    this.running = true;
    this.mqtt.on('message', this.onMessage);
    await this.mqtt.subscribeAsync(UP_TOPIC_FILTER, { qos: 1 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${this.options.host}:${port}`;
    this.log.info('ChirpStack simulator listening', { url, emulateDevices: this.options.emulateDevices });
    return { url };
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.running = false;
    this.mqtt.off('message', this.onMessage);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const server = this.server;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await Promise.allSettled([...this.inflight]);
    if (this.mqtt.connected) {
      await this.mqtt.unsubscribeAsync(UP_TOPIC_FILTER).catch((err: unknown) => {
        this.log.warn('ChirpStack simulator: unsubscribe failed', { error: String(err) });
      });
    }
  }

  // ---- REST: /api/devices/{devEui}/queue ----

  private async handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://simulator').pathname;
      const match = QUEUE_PATH.exec(path);
      if (!match) throw new HttpError(404, 5, 'Not Found');
      this.authorize(req.headers['grpc-metadata-authorization']);
      const devEui = decodeURIComponent(match[1] ?? '');
      if (!/^[0-9a-fA-F]{16}$/.test(devEui)) throw new HttpError(400, 3, `invalid dev_eui: ${devEui}`);
      const eui = devEui.toLowerCase();
      switch (req.method) {
        case 'POST':
          return send(res, 200, this.enqueue(eui, await readJson(req)));
        case 'GET':
          return send(res, 200, this.list(eui));
        case 'DELETE':
          this.flush(eui);
          return send(res, 200, {});
        default:
          throw new HttpError(405, 12, 'Method Not Allowed');
      }
    } catch (err) {
      if (err instanceof HttpError) {
        return send(res, err.status, { code: err.grpcCode, message: err.message, details: [] });
      }
      this.log.error('ChirpStack simulator: request failed', { error: String(err) });
      return send(res, 500, { code: 13, message: 'internal error', details: [] });
    }
  }

  private authorize(header: string | string[] | undefined): void {
    const value = Array.isArray(header) ? header[0] : header;
    const match = value ? /^Bearer\s+(\S+)$/i.exec(value.trim()) : null;
    if (!match) throw new HttpError(401, 16, 'authorization token required (Grpc-Metadata-Authorization: Bearer ...)');
    if (this.options.apiKey !== undefined && match[1] !== this.options.apiKey) {
      throw new HttpError(401, 16, 'invalid API key');
    }
  }

  private enqueue(devEui: string, body: unknown): { id: string } {
    const parsed = enqueueBodySchema.safeParse(body);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
      throw new HttpError(400, 3, issues.join('; '));
    }
    const device = this.device(devEui);
    if (device.queue.length >= this.options.maxQueuePerDevice) {
      throw new HttpError(429, 8, `device queue is full (${this.options.maxQueuePerDevice} items)`);
    }
    const { queueItem } = parsed.data;
    const item: QueuedItem = {
      id: randomUUID(),
      devEui,
      confirmed: queueItem.confirmed,
      fPort: queueItem.fPort,
      data: new Uint8Array(Buffer.from(queueItem.data, 'base64')),
      expiresAt: queueItem.expiresAt ? new Date(queueItem.expiresAt) : undefined,
    };
    device.queue.push(item);
    this.stats.enqueued++;
    return { id: item.id };
  }

  private list(devEui: string) {
    const device = this.devices.get(devEui);
    if (device) this.dropExpired(device);
    const queue = device?.queue ?? [];
    // Proto3 JSON with unpopulated fields emitted, as the REST proxy's default marshaler does.
    return {
      totalCount: queue.length,
      result: queue.map((item) => ({
        id: item.id,
        devEui: item.devEui,
        confirmed: item.confirmed,
        fPort: item.fPort,
        data: Buffer.from(item.data).toString('base64'),
        object: null,
        isPending: false,
        fCntDown: 0,
        isEncrypted: false,
        expiresAt: item.expiresAt?.toISOString() ?? null,
      })),
    };
  }

  private flush(devEui: string): void {
    const device = this.devices.get(devEui);
    if (!device) return;
    this.stats.flushed += device.queue.length;
    device.queue = [];
  }

  private device(devEui: string): DeviceState {
    let device = this.devices.get(devEui);
    if (!device) {
      device = { queue: [], nextFCntDown: 0, lastFCnt: -1 };
      this.devices.set(devEui, device);
    }
    return device;
  }

  // ---- Class A delivery ----

  private async handleUplink(applicationId: string, devEui: string, payload: Buffer): Promise<void> {
    const parsed = upEventSchema.safeParse(safeJson(payload.toString('utf8')));
    if (!parsed.success) {
      this.log.warn('ChirpStack simulator: ignoring unreadable up event', { devEui });
      return;
    }
    const up = parsed.data;
    // A client subscribed through overlapping filters may receive one publish twice: deliver once.
    if (up.deduplicationId) {
      if (this.seenUplinks.has(up.deduplicationId)) return;
      this.remember(up.deduplicationId);
    }

    // All state changes happen before the first await, so two uplinks never take the same item.
    const device = this.device(devEui);
    device.deviceInfo = up.deviceInfo ?? device.deviceInfo ?? { applicationId, devEui };
    device.devAddr = up.devAddr ?? device.devAddr;
    device.lastFCnt = Math.max(device.lastFCnt, up.fCnt ?? 0);
    device.frequency = up.txInfo?.frequency ?? device.frequency;
    device.spreadingFactor = up.txInfo?.modulation?.lora?.spreadingFactor ?? device.spreadingFactor;
    const expired = this.dropExpired(device);
    const item = device.queue.shift();
    const fCntDown = item ? device.nextFCntDown++ : 0;
    const deviceInfo = device.deviceInfo;
    const base = `application/${deviceInfo.applicationId}/device/${devEui}/event`;

    for (const gone of expired) {
      await this.publish(`${base}/log`, {
        time: this.now().toISOString(),
        deviceInfo,
        // LogCode has no expiry code in the integration.proto we checked; UNKNOWN keeps strict consumers
        // parsing. Match on context.queue_item_id, not on the code.
        level: 'WARNING',
        code: 'UNKNOWN',
        description: 'Device queue-item discarded because it has expired',
        context: { queue_item_id: gone.id },
      });
    }
    if (!item) return;

    await this.publish(`${base}/txack`, {
      downlinkId: randomInt(1, 0xffffffff),
      time: this.now().toISOString(),
      deviceInfo,
      queueItemId: item.id,
      fCntDown,
      gatewayId: this.options.gatewayId,
      txInfo: {
        frequency: device.frequency ?? 868_100_000,
        power: 14,
        modulation: {
          lora: {
            bandwidth: 125_000,
            spreadingFactor: device.spreadingFactor ?? 7,
            codeRate: 'CR_4_5',
            polarizationInversion: true,
          },
        },
        timing: { delay: { delay: '1s' } },
      },
    });
    this.stats.delivered++;

    // A real device acks in its next uplink; acking right away keeps the simulator stateless between
    // uplinks and is indistinguishable to the consumer, which only sees the event.
    if (item.confirmed) {
      await this.publish(`${base}/ack`, {
        deduplicationId: randomUUID(),
        time: this.now().toISOString(),
        deviceInfo,
        queueItemId: item.id,
        acknowledged: true,
        fCntDown,
      });
      this.stats.acknowledged++;
    }

    if (this.options.emulateDevices && item.fPort === this.options.passThroughFPort) {
      this.emulateModbusSlave(devEui, item);
    }
  }

  /**
   * The UC100 forwards pass-through downlink bytes to RS485 unchanged ("Modbus transparent transmission",
   * UC100 User Guide §1.1) and uplinks what the bus answers on the same port, so the uplink's data is the
   * raw Modbus RTU response frame, CRC included. A slave answers a write it executed with the FC05/FC06
   * echo or the FC16 short response; anything else (reads, broadcasts, bad CRC) gets no answer here.
   */
  private emulateModbusSlave(devEui: string, item: QueuedItem): void {
    const request = parseWriteRequest(item.data);
    if (!request) return;
    const response = expectedEcho(item.data);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.running) return;
      this.track(this.publishEmulatedUplink(devEui, item.fPort, response));
    }, this.options.deviceResponseDelayMs);
    this.timers.add(timer);
  }

  private async publishEmulatedUplink(devEui: string, fPort: number, data: Uint8Array): Promise<void> {
    const device = this.device(devEui);
    const deviceInfo = device.deviceInfo ?? { applicationId: 'unknown', devEui };
    device.lastFCnt += 1;
    await this.publish(`application/${deviceInfo.applicationId}/device/${devEui}/event/up`, {
      deduplicationId: randomUUID(),
      time: this.now().toISOString(),
      deviceInfo,
      devAddr: device.devAddr ?? '00000000',
      adr: true,
      dr: 5,
      fCnt: device.lastFCnt,
      fPort,
      confirmed: false,
      data: Buffer.from(data).toString('base64'),
      rxInfo: [
        {
          gatewayId: this.options.gatewayId,
          uplinkId: randomInt(1, 0xffffffff),
          rssi: -57,
          snr: 9.5,
          context: '',
          metadata: { region_common_name: 'EU868', region_config_id: 'eu868' },
        },
      ],
      txInfo: {
        frequency: device.frequency ?? 868_100_000,
        modulation: { lora: { bandwidth: 125_000, spreadingFactor: device.spreadingFactor ?? 7, codeRate: 'CR_4_5' } },
      },
    });
    this.stats.emulatedUplinks++;
  }

  /** Remove expired items (ChirpStack drops them when it would otherwise send them); returns them. */
  private dropExpired(device: DeviceState): QueuedItem[] {
    const now = this.now().getTime();
    const expired = device.queue.filter((item) => item.expiresAt !== undefined && item.expiresAt.getTime() <= now);
    if (expired.length > 0) {
      device.queue = device.queue.filter((item) => !expired.includes(item));
      this.stats.expired += expired.length;
    }
    return expired;
  }

  private async publish(topic: string, event: Record<string, unknown>): Promise<void> {
    await this.mqtt.publishAsync(topic, JSON.stringify(event), { qos: 1 });
  }

  private remember(deduplicationId: string): void {
    this.seenUplinks.add(deduplicationId);
    if (this.seenUplinks.size > MAX_REMEMBERED_UPLINKS) {
      const oldest = this.seenUplinks.values().next().value;
      if (oldest !== undefined) this.seenUplinks.delete(oldest);
    }
  }

  /** Keep a handle on background work so stop() can wait for it; failures are logged, never thrown away. */
  private track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => {
      this.log.error('ChirpStack simulator: background work failed', { error: String(err) });
    });
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }
}

export function createChirpStackSimulator(options: ChirpStackSimulatorOptions): ChirpStackSimulator {
  return new ChirpStackSimulator(options);
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(400, 3, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buf);
  }
  const body = safeJson(Buffer.concat(chunks).toString('utf8'));
  if (body === undefined) throw new HttpError(400, 3, 'request body is not valid JSON');
  return body;
}
