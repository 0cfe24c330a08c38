// A stand-in for ChirpStack in the local runtime (used when CHIRPSTACK_API_URL is not set): the REST
// device-queue endpoints the client in #adapters/chirpstack-client calls (rest.ts), and Class A delivery
// over MQTT (class-a.ts). Optionally it plays the UC100 + meter too, answering a Modbus write sent through
// the pass-through fPort with the meter's response as an uplink (modbus-slave.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MqttClient } from 'mqtt';
import * as z from 'zod';
import { chirpstackTopic, parseChirpstackTopic } from '#domain/topics';
import { logger as defaultLogger, type Logger } from '#shared/logger';
import { ClassADelivery } from './class-a.ts';
import { DeviceQueues, type ChirpStackSimulatorCounters } from './device-queues.ts';
import { mqttEventPublisher } from './json.ts';
import { ModbusSlave } from './modbus-slave.ts';
import { deviceQueueRest } from './rest.ts';

const optionsSchema = z.object({
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
type ChirpStackSimulatorOptions = z.input<typeof optionsSchema> & {
  /** Connected client of the broker the runtime uses; the simulator subscribes and publishes with it. */
  mqtt: MqttClient;
  now?: () => Date;
  logger?: Logger;
};

/** Every device's up events (the same filter ChirpStack's MQTT integration publishes them under). */
const UP_TOPIC_FILTER = chirpstackTopic('+', '+', 'up');

export class ChirpStackSimulator {
  private readonly options: z.infer<typeof optionsSchema>;
  private readonly mqtt: MqttClient;
  private readonly log: Logger;
  private readonly queues: DeviceQueues;
  private readonly classA: ClassADelivery;
  private readonly modbusSlave: ModbusSlave | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private server: http.Server | undefined;
  private running = false;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    const up = parseChirpstackTopic(topic);
    if (!up || up.type !== 'up' || !this.running) return;
    this.track(this.classA.uplink(up.applicationId, up.devEui, payload));
  };

  constructor(options: ChirpStackSimulatorOptions) {
    const { mqtt, now: clock, logger, ...rest } = options;
    this.options = optionsSchema.parse(rest);
    this.mqtt = mqtt;
    this.log = logger ?? defaultLogger;
    const now = clock ?? (() => new Date());
    const publish = mqttEventPublisher(mqtt);
    const { gatewayId } = this.options;
    this.queues = new DeviceQueues(now);
    const slave = this.options.emulateDevices
      ? new ModbusSlave({
          queues: this.queues,
          publish,
          now,
          passThroughFPort: this.options.passThroughFPort,
          responseDelayMs: this.options.deviceResponseDelayMs,
          gatewayId,
          running: () => this.running,
          track: (work) => this.track(work),
        })
      : undefined;
    this.modbusSlave = slave;
    this.classA = new ClassADelivery({
      queues: this.queues,
      publish,
      now,
      logger: this.log,
      gatewayId,
      onTransmitted: (devEui, item) => slave?.transmitted(devEui, item),
    });
  }

  get counters(): Readonly<ChirpStackSimulatorCounters> {
    return { ...this.queues.counters };
  }

  async start(): Promise<{ url: string }> {
    if (this.server) throw new Error('ChirpStack simulator already started');
    const rest = deviceQueueRest({ queues: this.queues, apiKey: this.options.apiKey, maxQueuePerDevice: this.options.maxQueuePerDevice, logger: this.log });
    const server = http.createServer((req, res) => this.track(rest(req, res)));
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
    this.modbusSlave?.cancelPending();
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

  /** Keep a handle on background work so stop() can wait for it; failures are logged, never thrown away. */
  private track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => {
      this.log.error('ChirpStack simulator: background work failed', { error: String(err) });
    });
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }
}
