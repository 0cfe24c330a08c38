// The whole platform on one machine: database, MQTT broker, HTTP API, ingestion, command queue and
// scheduler, wired from the same handlers the Lambdas run. main.ts starts it for `npm start`; tests and
// benchmarks start it in-process.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { openPglite, openPostgres, type DbHandle } from '#adapters/db/connect';
import { loadMigrations, migrate } from '#adapters/db/migrate';
import { apiRoutes, createApiHandler } from '#app/api/index';
import type { AppDeps } from '#app/deps';
import type { LocalConfig } from '#shared/config';
import { logger as rootLogger, type Logger } from '#shared/logger';
import { localAuth, loadOrCreateKey, type LocalAuth } from './auth.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.ts';
import { startHttpServer, type LocalHttpServer } from './http-server.ts';
import { lambdaContext } from './lambda-context.ts';
import { MicroBatcher } from './batcher.ts';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import { httpIntegrationHandler } from '#app/ingest/http-integration';
import type { InboundMessage } from '#app/ingest/inbound';
import { routeFor, scheduledJobs, topicRoutes, type JobName } from '#shared/routes';
import { markOfflineMeters } from '#app/jobs/offline-meters';
import { ChirpStackClient } from '#adapters/chirpstack-client';
import { mqttDevicePublisher } from '#adapters/device-publisher-mqtt';
import { dispatch, type DispatchDeps, type DispatchResult } from '#app/commands/dispatcher';
import { enqueueOrLeaveToSweeper } from '#app/commands/enqueue';
import { applyFeedback } from '#app/commands/feedback';
import type { CommandDeps, CommandQueue, DeviceQueueApi } from '#app/commands/ports';
import { sweep } from '#app/commands/sweeper';
import { ConfigError } from '#shared/config';
import { ChirpStackSimulator } from './chirpstack-simulator.ts';
import { schedule } from './scheduler.ts';

export interface Platform {
  config: LocalConfig;
  db: DbHandle;
  mqtt: MqttClient;
  mqttUrl: string;
  httpUrl: string;
  /** The local ingest batcher (tests and benchmarks read its queue length). */
  ingest: MicroBatcher<InboundMessage>;
  auth: LocalAuth;
  broker: EmbeddedBroker | undefined;
  /** The command system as wired locally (tests and benchmarks drive it directly). */
  commands: {
    queue: LocalCommandQueue;
    /** What creating commands needs (the same the HTTP API gets). */
    deps: CommandDeps;
    dispatchDeps: DispatchDeps;
    chirpstackUrl: string;
    /** The built-in ChirpStack simulator, when CHIRPSTACK_API_URL is not set. */
    simulator: ChirpStackSimulator | undefined;
  };
  /** What runs where, for the start-up banner. */
  describe(): string[];
  stop(): Promise<void>;
}

export async function startPlatform(config: LocalConfig, logger: Logger = rootLogger): Promise<Platform> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        logger.warn('error while stopping', { error: error as Error });
      }
    }
  };
  try {
    const dataDir = path.resolve(config.DATA_DIR);
    await mkdir(dataDir, { recursive: true });
    const db = config.DATABASE_URL ? await openPostgres(config.DATABASE_URL) : await openPglite(path.join(dataDir, 'pgdata'));
    stops.push(() => db.close());
    const migrated = await migrate(db.db, await loadMigrations());
    if (migrated.applied.length) logger.info('migrations applied', { applied: migrated.applied });

    let broker: EmbeddedBroker | undefined;
    let mqttUrl = config.MQTT_URL;
    if (!mqttUrl) {
      broker = await startEmbeddedBroker(config.MQTT_PORT, config.HOST);
      stops.push(() => broker!.close());
      mqttUrl = broker.url;
    }
    // A fixed MQTT_CLIENT_ID gets a persistent session: the broker keeps QoS 1 messages published while
    // the platform restarts. Without one, a fresh id and a clean session (tests, several local runs).
    const client = await mqtt.connectAsync(mqttUrl, {
      clientId: config.MQTT_CLIENT_ID ?? `quantify-platform-${randomBytes(4).toString('hex')}`,
      clean: config.MQTT_CLIENT_ID === undefined,
      ...(config.MQTT_USERNAME ? { username: config.MQTT_USERNAME } : {}),
      ...(config.MQTT_PASSWORD ? { password: config.MQTT_PASSWORD } : {}),
      reconnectPeriod: 1_000,
    });
    stops.push(() => client.endAsync());

    // ChirpStack: the real REST API at CHIRPSTACK_API_URL, or the simulator (Class A delivery over this
    // broker). Either way the dispatcher talks to it through the real client.
    let simulator: ChirpStackSimulator | undefined;
    let chirpstackUrl = config.CHIRPSTACK_API_URL;
    let network: DeviceQueueApi;
    if (chirpstackUrl) {
      if (!config.CHIRPSTACK_API_KEY) throw new ConfigError('CHIRPSTACK_API_KEY is required when CHIRPSTACK_API_URL is set');
      network = new ChirpStackClient({ baseUrl: chirpstackUrl, apiKey: config.CHIRPSTACK_API_KEY });
    } else {
      const sim = new ChirpStackSimulator({ mqtt: client, host: config.HOST, port: 0, logger });
      simulator = sim;
      chirpstackUrl = (await sim.start()).url;
      stops.push(() => sim.stop());
      network = new ChirpStackClient({ baseUrl: chirpstackUrl, apiKey: 'local-simulator' });
    }

    const now = () => new Date();
    const dispatchDeps: DispatchDeps = { db: db.db, logger, now, network, publisher: mqttDevicePublisher(client), concurrency: 32 };
    const commandQueue: LocalCommandQueue = new LocalCommandQueue({
      dispatch: (ids) => dispatch(dispatchDeps, ids),
      // Commands due later come back through the same path as new ones (marked, then pushed).
      enqueueLater: (ids) => enqueueOrLeaveToSweeper({ db: db.db, logger, now, commandQueue }, ids),
      logger,
      // Two batches at once even on PGlite (its driver hands the one connection out statement by
      // statement): one batch's HTTP calls overlap the other's SQL.
      concurrency: 2,
    });
    const commandDeps: CommandDeps = { db: db.db, logger, now, commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS };

    const ingestDeps: IngestDeps = {
      db: db.db,
      logger,
      now,
      commandExpiryHours: config.COMMAND_EXPIRY_HOURS,
      onFeedback: async (feedback) => void (await applyFeedback({ db: db.db, logger, now }, feedback)),
      onCommandsCreated: (ids) => enqueueOrLeaveToSweeper(commandDeps, ids),
    };
    // PGlite is one connection; a server overlaps a few batches (one decodes while another writes).
    const ingest = new MicroBatcher<InboundMessage>({
      maxSize: config.INGEST_BATCH_SIZE,
      maxWaitMs: config.INGEST_BATCH_WINDOW_MS,
      concurrency: config.INGEST_CONCURRENCY ?? (db.driver === 'pglite' ? 1 : 3),
      handle: async (items) => {
        const result = await ingestBatch(ingestDeps, items);
        const retry = new Set(result.retry);
        return items.filter((m) => retry.has(m.id));
      },
      onError: (error, items) => logger.error('ingest batch failed; retrying', { error: error as Error, messages: items.length }),
    });
    stops.push(() => ingest.drain());
    let sequence = 0;
    client.on('message', (topic, payload) => {
      if (!routeFor(topic)) return;
      // Acknowledged to the broker on receipt: see the README on the local batch window.
      ingest.push({ id: `mqtt-${++sequence}`, topic, payload, receivedAt: new Date(), source: 'mqtt' }).catch(() => undefined);
    });
    await client.subscribeAsync(topicRoutes.map((r) => r.topicFilter), { qos: 1 });
    stops.push(async () => {
      await client.unsubscribeAsync(topicRoutes.map((r) => r.topicFilter)).catch(() => undefined);
    });
    // Stopped while still subscribed (so confirmations of what it sends while draining are ingested),
    // and before the simulator and the MQTT client, since a draining dispatcher still sends.
    stops.push(() => commandQueue.stop());
    const chirpstackHttp = httpIntegrationHandler({
      logger,
      now,
      token: async () => config.CHIRPSTACK_HTTP_INTEGRATION_TOKEN,
      accept: (message) => ingest.push(message),
    });

    // Scheduled jobs: the same expressions EventBridge Scheduler runs in the cloud.
    const jobs: Partial<Record<JobName, () => Promise<void>>> = {
      offline_meters: async () => {
        const { markedOffline } = await markOfflineMeters(db.db, new Date());
        if (markedOffline.length) logger.warn('meters marked offline', { count: markedOffline.length, meters: markedOffline.slice(0, 50) });
      },
      command_sweeper: async () => {
        await sweep({ db: db.db, logger, commandQueue }, new Date());
      },
    };
    if (config.SCHEDULER_ENABLED) {
      for (const job of scheduledJobs) {
        const run = jobs[job.name];
        if (!run) continue;
        const task = schedule(job.expression, run, (error) => logger.error('scheduled job failed', { job: job.name, error: error as Error }));
        stops.push(() => task.stop());
      }
    }

    const auth = localAuth(await loadOrCreateKey(dataDir), config.AUTH_ISSUER, config.AUTH_AUDIENCE);
    const deps: AppDeps = {
      db: db.db,
      logger,
      now,
      healthChecks: { broker: async () => client.connected },
      ingest: (messages) => ingestBatch(ingestDeps, messages),
      commandQueue,
      commandExpiryHours: config.COMMAND_EXPIRY_HOURS,
    };
    const api = createApiHandler(deps, apiRoutes());
    const http: LocalHttpServer = await startHttpServer({
      host: config.HOST,
      port: config.PORT,
      auth,
      logger,
      handlers: {
        api: (event) => api(event, lambdaContext()),
        chirpstack_http: chirpstackHttp,
      },
    });
    stops.push(() => http.close());

    return {
      config,
      db,
      mqtt: client,
      mqttUrl,
      httpUrl: http.url,
      ingest,
      auth,
      broker,
      commands: { queue: commandQueue, deps: commandDeps, dispatchDeps, chirpstackUrl, simulator },
      describe: () => [
        `HTTP API       ${http.url}  (GET /health; token: npm run token -- operator)`,
        `MQTT broker    ${mqttUrl}${broker ? '  (embedded)' : '  (external)'}`,
        `Ingesting      ${topicRoutes.map((r) => r.topicFilter).join(', ')}`,
        `ChirpStack HTTP integration ${config.CHIRPSTACK_HTTP_INTEGRATION_TOKEN ? `${http.url}/integrations/chirpstack?event=up` : 'disabled (set CHIRPSTACK_HTTP_INTEGRATION_TOKEN)'}`,
        `ChirpStack     ${chirpstackUrl}${simulator ? '  (simulator: device queue REST API, Class A delivery on this broker)' : '  (CHIRPSTACK_API_URL)'}`,
        `Database       ${db.describe}`,
        `Data directory ${dataDir}`,
      ],
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export interface LocalCommandQueueOptions {
  dispatch: (ids: string[]) => Promise<DispatchResult>;
  /** Hand back commands that came due (scheduled, past their backoff, behind an older command). */
  enqueueLater: (ids: string[]) => Promise<void>;
  logger: Logger;
  concurrency: number;
  maxBatch?: number;
  windowMs?: number;
  /** Commands due further ahead than this are left to the sweeper rather than held in a timer. */
  horizonMs?: number;
}

/**
 * The local stand-in for the SQS command queue: command ids in micro-batches to the dispatcher, and a
 * timer for each command the dispatcher says is due later. Delivery is at least once, as with SQS; the
 * dispatcher's claim makes sending once.
 */
export class LocalCommandQueue implements CommandQueue {
  private readonly batcher: MicroBatcher<string>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private unsettled = 0;
  private stopped = false;

  constructor(private readonly options: LocalCommandQueueOptions) {
    this.batcher = new MicroBatcher<string>({
      maxSize: options.maxBatch ?? 500,
      maxWaitMs: options.windowMs ?? 5,
      concurrency: options.concurrency,
      handle: async (ids) => {
        const result = await options.dispatch(ids);
        for (const item of [...result.later, ...result.retrying]) this.later(item.id, item.at);
        return [];
      },
      onError: (error, ids) => options.logger.error('command dispatch failed; retrying the batch', { error: error as Error, commands: ids.length }),
    });
  }

  /** Commands pushed and not yet through the dispatcher. */
  get pending(): number {
    return this.unsettled;
  }

  async enqueue(commandIds: string[]): Promise<void> {
    if (this.stopped) throw new Error('the command queue is stopping');
    for (const id of commandIds) {
      this.unsettled++;
      this.batcher.push(id).then(
        () => this.unsettled--,
        (error: unknown) => {
          this.unsettled--;
          this.options.logger.warn('command left to the sweeper', { commandId: id, error: error as Error });
        },
      );
    }
  }

  private later(id: string, at: Date): void {
    if (this.stopped) return;
    const delay = Math.max(0, at.getTime() - Date.now());
    if (delay > (this.options.horizonMs ?? 15 * 60_000)) return;
    clearTimeout(this.timers.get(id));
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.options.enqueueLater([id]).catch((error: unknown) => this.options.logger.warn('command left to the sweeper', { commandId: id, error: error as Error }));
    }, delay);
    timer.unref();
    this.timers.set(id, timer);
  }

  /** Wait until every pushed command has been through the dispatcher (bounded). */
  async idle(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.unsettled > 0) {
      if (Date.now() > until) throw new Error(`command queue not idle after ${timeoutMs} ms (${this.unsettled} pending)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Stop taking commands, drop the timers (the sweeper finds those commands), finish what is queued. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.batcher.drain();
  }
}

