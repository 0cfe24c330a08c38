// The whole platform on one machine: database, MQTT broker, HTTP API, ingestion, command queue and
// scheduler, wired from the same handlers the Lambdas run. main.ts starts it for `npm start`; tests and
// benchmarks start it in-process. Each part is a step that returns what it started and how to stop it;
// startPlatform runs the steps in order and the stops in reverse.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
import { loadOrCreateServiceSecrets, serviceLogin, type MqttLogin } from './mqtt-logins.ts';
import { verifyMeterLogin } from '#app/device-access/credentials';
import type { ServiceIdentity } from '#domain/device-access';
import { startHttpServer } from './http-server.ts';
import { startLiveChannel } from './live-events.ts';
import { LiveFeed } from '#app/portal/live-feed';
import { lambdaContext } from './lambda-context.ts';
import { MicroBatcher } from './batcher.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { MqttIngest } from './mqtt-ingest.ts';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import { ingestWithCommands } from '#app/ingest/with-commands';
import { httpIntegrationHandler } from '#app/ingest/http-integration';
import type { InboundMessage } from '#app/ingest/inbound';
import { routeFor, scheduledJobs, topicRoutes, type JobName } from '#shared/routes';
import { markOfflineMeters } from '#app/jobs/offline-meters';
import { pruneOldReadings } from '#app/jobs/readings-retention';
import { runReservations } from '#app/parking/parking';
import { balanceControlEvents, billingJob } from '#app/billing/job';
import { localSmsSender } from './sms-sink.ts';
import { Esp32Presence } from './esp32-presence.ts';
import { resyncOnReconnect } from '#app/billing/resync';
import { drainNotifications, type SmsSender } from '#app/notifications/notifications';
import { ChirpStackClient } from '#adapters/chirpstack-client';
import { mqttDevicePublisher } from '#adapters/device-publisher-mqtt';
import { dispatch, type DispatchDeps } from '#app/commands/dispatcher';
import { enqueueOrLeaveToSweeper } from '#app/commands/enqueue';
import type { CommandDeps, DeviceQueueApi } from '#app/commands/ports';
import { sweep } from '#app/commands/sweeper';
import { clockPolicyOf, resyncPolicyOf, ConfigError } from '#shared/config';
import { ChirpStackSimulator } from './chirpstack-sim/index.ts';
import { LocalCommandQueue } from './local-command-queue.ts';
import { OutageLog } from './outage.ts';
import { schedule, type ScheduledTask } from './scheduler.ts';
import { startDaraja } from './daraja.ts';
import type { DarajaSimulator } from './daraja-sim/index.ts';
import { prometheusMetrics, type PrometheusMetrics } from './metrics.ts';
import { darajaCallbackHandler } from '#app/payments/callbacks';
import { queryPendingStk, reconcile, type StkDeps } from '#app/payments/stk';
import type { PaymentEvents } from '#app/payments/ports';
import { startCollector, type Collector } from '../collector/collector.ts';
import type { CollectorConfig } from '../collector/config.ts';

export interface Platform {
  config: LocalConfig;
  db: DbHandle;
  mqttUrl: string;
  httpUrl: string;
  auth: LocalAuth;
  broker: EmbeddedBroker | undefined;
  /**
   * Logins for the embedded broker's service identities (the platform's own, ChirpStack's, operator
   * tools'); with MQTT_URL only the platform's, when MQTT_USERNAME is set.
   */
  mqttLogins: Partial<Record<ServiceIdentity, MqttLogin>>;
  /** The command system as wired locally (tests and benchmarks drive it directly). */
  commands: {
    queue: LocalCommandQueue;
    /** What creating commands needs (the same the HTTP API gets). */
    deps: CommandDeps;
    chirpstackUrl: string;
    /** The built-in ChirpStack simulator, when CHIRPSTACK_API_URL is not set. */
    simulator: ChirpStackSimulator | undefined;
  };
  /** M-Pesa as wired locally: the Daraja (or simulator) URL, the callback token, the simulator. */
  payments: { darajaUrl: string; callbackToken: string; simulator: DarajaSimulator | undefined; deps: StkDeps };
  /** The Modbus collector running in-process (COLLECTOR_ENABLED), posting to this platform's API. */
  collector: Collector | undefined;
  /** What runs where, for the start-up banner. */
  describe(): string[];
  stop(): Promise<void>;
}

type Stop = () => Promise<void>;
const nothingToStop: Stop = async () => {};

/** What every step is given. */
interface Context {
  config: LocalConfig;
  logger: Logger;
  /** The one clock of the wiring. */
  now: () => Date;
  dataDir: string;
  /** The app's metrics, served at GET /metrics. */
  metrics: PrometheusMetrics;
}

export interface PlatformOptions {
  /** Who hears of credits (the billing/control side). */
  paymentEvents?: PaymentEvents;
  /** Start the Modbus collector in-process with this configuration (COLLECTOR_ENABLED). */
  collector?: CollectorConfig;
}

export async function startPlatform(config: LocalConfig, logger: Logger = rootLogger, options: PlatformOptions = {}): Promise<Platform> {
  const shutdown = new Shutdown(logger);
  try {
    const dataDir = path.resolve(config.DATA_DIR);
    await mkdir(dataDir, { recursive: true });
    shutdown.add(await lockDataDir(dataDir));
    const db = shutdown.add(await openDatabase({ config, logger, dataDir })).handle;
    const ctx: Context = { config, logger, now: () => new Date(), dataDir, metrics: prometheusMetrics(db.db) };
    const broker = shutdown.add(await startBroker(ctx, db));
    const mqttClient = shutdown.add(await connectMqtt(ctx, broker));
    const client = mqttClient.client;
    const chirpstack = shutdown.add(await connectChirpstack(ctx, client));
    // Created before ingest (which hands it the commands it creates), but stopped before ingest: see below.
    const commands = commandDispatcher(ctx, db, chirpstack.network, client);
    const ingestDeps = ingestWithCommands({ db: db.db, logger, now: ctx.now, commandQueue: commands.deps.commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS, clock: clockPolicyOf(config), metrics: ctx.metrics, resync: resyncPolicyOf(config) });
    const ingest = shutdown.add(ingestBatcher(ctx, db, ingestDeps));
    shutdown.add(await subscribeIngest(ctx, mqttClient, ingest.batcher));
    // Stopped while still subscribed (so confirmations of what it sends while draining are ingested),
    // and before the simulator and the MQTT client, since a draining dispatcher still sends.
    shutdown.add(commands);
    // An ESP32 back online gets its balance: the embedded broker's connect events, else its first message after a silence.
    const presence = new Esp32Presence({
      resync: (meterNo) => resyncOnReconnect(commands.deps, meterNo, resyncPolicyOf(config)),
      silenceMs: config.ESP32_RECONNECT_SILENCE_S * 1000,
      debounceMs: config.ESP32_RESYNC_DEBOUNCE_S * 1000,
      now: ctx.now,
      logger,
    });
    if (broker.embedded) broker.embedded.onMeterConnected((meterNo) => presence.connected(meterNo));
    else client.on('message', (topic) => presence.message(topic));
    shutdown.add(presence);
    const daraja = shutdown.add(await startDaraja(config, dataDir, logger));
    const sms = localSmsSender(config, logger);
    const paymentDeps: StkDeps = { db: db.db, logger, now: ctx.now, metrics: ctx.metrics, provider: daraja.client, currency: config.PAYMENTS_CURRENCY, events: balanceControlEvents({ ...commands.deps, sms }, options.paymentEvents) };
    shutdown.add(startScheduler(ctx, db, commands.queue, paymentDeps, sms));
    const http = shutdown.add(await startHttp(ctx, { db, client, ingestDeps, ingest: ingest.batcher, commandQueue: commands.queue, payments: paymentDeps, callbackToken: daraja.token }));
    await daraja.listening(http.url);
    // Last, so it stops first: it posts to the HTTP API, and what it has not posted stays in its buffer.
    const collector = options.collector ? shutdown.add(await startInProcessCollector(ctx, http, options.collector)) : undefined;

    return {
      config,
      db,
      mqttUrl: broker.url,
      httpUrl: http.url,
      auth: http.auth,
      broker: broker.embedded,
      mqttLogins: broker.logins,
      commands: { queue: commands.queue, deps: commands.deps, chirpstackUrl: chirpstack.url, simulator: chirpstack.simulator },
      payments: { darajaUrl: daraja.url, callbackToken: daraja.token, simulator: daraja.simulator, deps: paymentDeps },
      collector: collector?.collector,
      describe: () => [
        `Portal         ${http.url}/  (sign in with a token: npm run token -- admin)`,
        `HTTP API       ${http.url}  (GET /health; token: npm run token -- operator)`,
        `MQTT broker    ${broker.url}${broker.embedded ? '  (embedded)' : '  (external)'}`,
        ...(broker.embedded
          ? [
              config.MQTT_ALLOW_ANONYMOUS
                ? `MQTT logins    !! ANONYMOUS CLIENTS ALLOWED with full access (MQTT_ALLOW_ANONYMOUS=true): a throwaway demo only`
                : `MQTT logins    required (meters: POST /devices/{id}/mqtt-credentials; tools: npm run mqtt:login -- operator)`,
            ]
          : []),
        `Ingesting      ${topicRoutes.map((r) => r.topicFilter).join(', ')}`,
        `ChirpStack HTTP integration ${config.CHIRPSTACK_HTTP_INTEGRATION_TOKEN ? `${http.url}/integrations/chirpstack?event=up` : 'disabled (set CHIRPSTACK_HTTP_INTEGRATION_TOKEN)'}`,
        `ChirpStack     ${chirpstack.url}${chirpstack.simulator ? '  (simulator: device queue REST API, Class A delivery on this broker)' : '  (CHIRPSTACK_API_URL)'}`,
        `M-Pesa         ${daraja.url}${daraja.simulator ? '  (Daraja simulator: STK Push, STK Query, C2B simulate, Pull Transactions)' : '  (DARAJA_BASE_URL)'}`,
        `M-Pesa callbacks ${config.DARAJA_PUBLIC_URL ?? http.url}/integrations/daraja/<DARAJA_CALLBACK_TOKEN>/{c2b/validation,c2b/confirmation,stk/callback,results}`,
        `Database       ${db.describe}`,
        `Data directory ${dataDir}`,
        ...(collector ? [collector.describe] : []),
      ],
      stop: () => shutdown.run(),
    };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}

/** The stops of the steps started so far, run last first; one that fails is logged and the rest still run. */
class Shutdown {
  private readonly stops: Stop[] = [];
  constructor(private readonly logger: Logger) {}

  add<T extends { stop: Stop }>(started: T): T {
    this.stops.push(started.stop);
    return started;
  }

  async run(): Promise<void> {
    // Taken off as they run, so a second stop() has nothing left to do.
    for (let stop = this.stops.pop(); stop; stop = this.stops.pop()) {
      try {
        await stop();
      } catch (error) {
        this.logger.warn('error while stopping', { error: error as Error });
      }
    }
  }
}

/** PGlite in DATA_DIR, or PostgreSQL at DATABASE_URL; migrated to the schema in schema/. */
async function openDatabase({ config, dataDir, logger }: Pick<Context, 'config' | 'dataDir' | 'logger'>) {
  const handle = config.DATABASE_URL
    ? await openPostgres(config.DATABASE_URL, {
        connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
        statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
        idleTimeoutMs: config.DATABASE_IDLE_TIMEOUT_MS,
        logger,
      })
    : await openPglite(path.join(dataDir, 'pgdata'));
  try {
    const migrated = await migrate(handle.db, await loadMigrations());
    if (migrated.applied.length) logger.info('migrations applied', { applied: migrated.applied });
  } catch (error) {
    await handle.close().catch((closeError: unknown) => logger.warn('error while stopping', { error: closeError as Error }));
    throw error;
  }
  return { handle, stop: () => handle.close() };
}

/**
 * The broker at MQTT_URL (the platform logs in with MQTT_USERNAME/MQTT_PASSWORD if given), or an embedded
 * one where every client logs in: the service identities with secrets from DATA_DIR/mqtt-logins.json,
 * meters with the credentials the API issued (checked against this database).
 */
async function startBroker({ config, dataDir }: Context, db: DbHandle) {
  if (config.MQTT_URL) {
    const login = config.MQTT_USERNAME ? { username: config.MQTT_USERNAME, password: config.MQTT_PASSWORD ?? '' } : undefined;
    return { url: config.MQTT_URL, localUrl: config.MQTT_URL, embedded: undefined, logins: login ? { platform: login } : {}, stop: nothingToStop };
  }
  if (!config.MQTT_TLS_CERT !== !config.MQTT_TLS_KEY) throw new ConfigError('MQTT_TLS_CERT and MQTT_TLS_KEY go together: set both or neither');
  const tls = config.MQTT_TLS_CERT && config.MQTT_TLS_KEY ? { cert: await readFile(config.MQTT_TLS_CERT), key: await readFile(config.MQTT_TLS_KEY) } : undefined;
  const secrets = await loadOrCreateServiceSecrets(dataDir, { chirpstack: config.MQTT_CHIRPSTACK_PASSWORD });
  const embedded = await startEmbeddedBroker({
    port: config.MQTT_PORT,
    host: config.HOST,
    ...(tls ? { tls } : {}),
    access: { serviceSecrets: secrets, verifyMeter: (meterNo, password) => verifyMeterLogin(db.db, meterNo, password), allowAnonymous: config.MQTT_ALLOW_ANONYMOUS },
  });
  const logins = { platform: serviceLogin(secrets, 'platform'), chirpstack: serviceLogin(secrets, 'chirpstack'), operator: serviceLogin(secrets, 'operator') };
  return { url: embedded.url, localUrl: embedded.localUrl, embedded, logins, stop: () => embedded.close() };
}

/**
 * The platform's own MQTT client: ingest subscribes with it, commands and the simulator publish with it.
 * Ingestion's message handler is installed before it connects (see mqtt-ingest.ts).
 */
async function connectMqtt({ config }: Context, broker: { localUrl: string; embedded: EmbeddedBroker | undefined; logins: Partial<Record<ServiceIdentity, MqttLogin>> }) {
  // A fixed MQTT_CLIENT_ID gets a persistent session: the broker keeps QoS 1 messages published while
  // the platform restarts (and those it sent but never got a PUBACK for). Without one, a fresh id and a
  // clean session (tests, several local runs).
  const persistent = config.MQTT_CLIENT_ID !== undefined;
  // MQTT 5 where the broker speaks it (aedes, the embedded one, speaks 3.1.1): its Receive Maximum holds
  // the broker to as many unacknowledged messages as ingestion takes; a 3.1.1 broker uses its own limit
  // (Mosquitto: max_inflight_messages, 20 by default), which makes batches that small.
  const protocolVersion = config.MQTT_PROTOCOL_VERSION ?? (broker.embedded ? 4 : 5);
  if (protocolVersion === 5 && broker.embedded) throw new ConfigError('MQTT_PROTOCOL_VERSION=5 needs an external broker (MQTT_URL): the embedded one speaks MQTT 3.1.1');
  const login = broker.logins.platform;
  const client = mqtt.connect(broker.localUrl, {
    clientId: config.MQTT_CLIENT_ID ?? `quantify-platform-${randomBytes(4).toString('hex')}`,
    clean: !persistent,
    protocolVersion,
    ...(protocolVersion === 5
      ? // A persistent MQTT 5 session must say how long it outlives the connection (0 = not at all); this is "never ends", as in 3.1.1.
        { properties: { receiveMaximum: ingestMaxInFlight(config), ...(persistent ? { sessionExpiryInterval: 0xffff_ffff } : {}) } }
      : {}),
    ...(login ? { username: login.username, password: login.password } : {}),
    reconnectPeriod: 1_000,
    manualConnect: true,
  });
  const ingest = new MqttIngest(client, { accepts: (topic) => routeFor(topic) !== undefined });
  try {
    await new Promise<void>((resolve, reject) => {
      const off = () => {
        client.off('connect', onConnect);
        client.off('error', onError);
      };
      const onConnect = () => (off(), resolve());
      const onError = (error: Error) => (off(), reject(error));
      client.on('connect', onConnect);
      client.on('error', onError);
      client.connect();
    });
  } catch (error) {
    await client.endAsync(true).catch(() => undefined);
    throw error;
  }
  return { client, ingest, persistent, stop: () => client.endAsync() };
}

/** INGEST_MAX_IN_FLIGHT, by default four batches' worth (within MQTT's 65535). */
function ingestMaxInFlight(config: LocalConfig): number {
  return config.INGEST_MAX_IN_FLIGHT ?? Math.min(65_535, 4 * config.INGEST_BATCH_SIZE);
}

/**
 * ChirpStack: the real REST API at CHIRPSTACK_API_URL, or the simulator (Class A delivery over this
 * broker). Either way the dispatcher talks to it through the real client.
 */
async function connectChirpstack({ config, logger }: Context, client: MqttClient) {
  if (config.CHIRPSTACK_API_URL) {
    if (!config.CHIRPSTACK_API_KEY) throw new ConfigError('CHIRPSTACK_API_KEY is required when CHIRPSTACK_API_URL is set');
    const network: DeviceQueueApi = new ChirpStackClient({ baseUrl: config.CHIRPSTACK_API_URL, apiKey: config.CHIRPSTACK_API_KEY });
    return { url: config.CHIRPSTACK_API_URL, network, simulator: undefined, stop: nothingToStop };
  }
  const simulator = new ChirpStackSimulator({ mqtt: client, host: config.HOST, port: 0, logger });
  const { url } = await simulator.start();
  const network: DeviceQueueApi = new ChirpStackClient({ baseUrl: url, apiKey: 'local-simulator' });
  return { url, network, simulator, stop: () => simulator.stop() };
}

/** The in-process command queue feeding the dispatcher; stopping it drains what it holds. */
function commandDispatcher({ config, logger, now, metrics }: Context, db: DbHandle, network: DeviceQueueApi, client: MqttClient) {
  const dispatchDeps: DispatchDeps = { db: db.db, logger, now, network, publisher: mqttDevicePublisher(client), concurrency: 32, metrics };
  const queue: LocalCommandQueue = new LocalCommandQueue({
    dispatch: (ids) => dispatch(dispatchDeps, ids),
    // Commands due later come back through the same path as new ones (marked, then pushed).
    enqueueLater: (ids) => enqueueOrLeaveToSweeper({ db: db.db, logger, now, commandQueue: queue }, ids),
    logger,
    // Two batches at once even on PGlite (its driver hands the one connection out statement by
    // statement): one batch's HTTP calls overlap the other's SQL.
    concurrency: 2,
  });
  const deps: CommandDeps = { db: db.db, logger, now, commandQueue: queue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS };
  return { queue, deps, stop: () => queue.stop() };
}

/** The local stand-in for the ingest SQS queue: messages in micro-batches to ingest; stopping drains it. */
function ingestBatcher({ config, logger }: Context, db: DbHandle, ingestDeps: IngestDeps) {
  // PGlite is one connection; a server overlaps a few batches (one decodes while another writes).
  const batcher = new MicroBatcher<InboundMessage>({
    maxSize: config.INGEST_BATCH_SIZE,
    maxWaitMs: config.INGEST_BATCH_WINDOW_MS,
    concurrency: config.INGEST_CONCURRENCY ?? (db.driver === 'pglite' ? 1 : 3),
    // Bounded: when full, MQTT ingestion stops reading the broker and the HTTP integration waits.
    maxInFlight: ingestMaxInFlight(config),
    handle: async (items) => {
      const result = await ingestBatch(ingestDeps, items);
      const retry = new Set(result.retry);
      return items.filter((m) => retry.has(m.id));
    },
    onError: (error, items) => logger.error('ingest batch failed; retrying', { error: error as Error, messages: items.length }),
  });
  return { batcher, stop: () => batcher.drain() };
}

/**
 * The topics the IoT rules route in the cloud, subscribed here and pushed to the ingest batcher; each
 * QoS 1 message is acknowledged once its batch is written (mqtt-ingest.ts).
 */
async function subscribeIngest({ logger }: Context, mqttClient: { client: MqttClient; ingest: MqttIngest; persistent: boolean }, batcher: MicroBatcher<InboundMessage>) {
  const { client, ingest, persistent } = mqttClient;
  ingest.attach(batcher);
  const filters = topicRoutes.map((r) => r.topicFilter);
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    // A clean session unsubscribes first (what arrives later would be lost with the session anyway).
    // A persistent one stays subscribed: the broker keeps queueing for it while the platform restarts,
    // and what arrives from here on is left unacknowledged, for the next start. Then what ingestion
    // holds is written and acknowledged before the client disconnects.
    stop: async () => {
      if (!persistent) await client.unsubscribeAsync(filters).catch(() => undefined);
      ingest.close();
      await batcher.drain();
      await ingest.drainAcks();
      if (ingest.unacknowledged) logger.warn('MQTT messages left unacknowledged for redelivery', { messages: ingest.unacknowledged });
    },
  };
}

/** Scheduled jobs: the same expressions EventBridge Scheduler runs in the cloud (none when SCHEDULER_ENABLED is off). */
function startScheduler({ config, logger }: Context, db: DbHandle, commandQueue: LocalCommandQueue, payments: StkDeps, sms: SmsSender) {
  const jobs: Partial<Record<JobName, () => Promise<void>>> = {
    stk_query: async () => {
      await queryPendingStk(payments);
    },
    daraja_reconcile: async () => {
      await reconcile(payments);
    },
    billing: async () => {
      await billingJob({ db: db.db, logger, now: () => new Date(), commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS, sms }, { trigger: 'schedule' });
    },
    readings_retention: async () => {
      await pruneOldReadings({ db: db.db, logger, retentionDays: config.READINGS_RETENTION_DAYS }, new Date());
    },
    offline_meters: async () => {
      await markOfflineMeters({ db: db.db, logger }, new Date());
    },
    command_sweeper: async () => {
      await sweep({ db: db.db, logger, commandQueue }, new Date());
    },
    notifications: async () => {
      await drainNotifications({ db: db.db, logger, now: () => new Date(), sms });
    },
    parking_reservations: async () => {
      await runReservations({ db: db.db, logger, now: () => new Date(), commandQueue, commandExpiryHours: config.COMMAND_EXPIRY_HOURS }, new Date());
    },
  };
  const tasks: ScheduledTask[] = [];
  if (config.SCHEDULER_ENABLED) {
    for (const job of scheduledJobs) {
      const run = jobs[job.name];
      if (!run) continue;
      // Each tick runs while the database is down; the outage is logged once, not every tick.
      const outage = new OutageLog(logger, `scheduled job ${job.name}`);
      const runAndRecover = async () => {
        await run();
        outage.succeeded();
      };
      const expression = job.name === 'billing' ? `rate(${config.BILLING_INTERVAL_MIN} minutes)` : job.expression;
      tasks.push(schedule(expression, runAndRecover, (error) => outage.failed(error, { job: job.name }, 'scheduled job failed')));
    }
  }
  return {
    // Each task waits for a run in progress, last started first.
    stop: async () => {
      for (const task of tasks.reverse()) await task.stop();
    },
  };
}

/** The operator portal's build (`npm run build:web`, run by `npm start` and the tests' global setup). */
const portalDir = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** API Gateway's job (and CloudFront's for the portal): the HTTP API, the ChirpStack HTTP integration and the portal's files. */
async function startHttp(
  { config, logger, now, dataDir, metrics }: Context,
  parts: { db: DbHandle; client: MqttClient; ingestDeps: IngestDeps; ingest: MicroBatcher<InboundMessage>; commandQueue: LocalCommandQueue; payments: StkDeps; callbackToken: string },
) {
  const { db, client, ingestDeps, ingest, commandQueue, payments } = parts;
  const daraja = darajaCallbackHandler({
    db: db.db,
    logger,
    now,
    token: async () => parts.callbackToken,
    ...(config.DARAJA_ALLOWED_IPS ? { allowedIps: config.DARAJA_ALLOWED_IPS } : {}),
    currency: payments.currency,
    ...(payments.events ? { events: payments.events } : {}),
    metrics,
  });
  const chirpstackHttp = httpIntegrationHandler({
    logger,
    now,
    token: async () => config.CHIRPSTACK_HTTP_INTEGRATION_TOKEN,
    accept: (message) => ingest.push(message),
  });
  const auth = localAuth(await loadOrCreateKey(dataDir), config.AUTH_ISSUER, config.AUTH_AUDIENCE);
  const deps: AppDeps = {
    db: db.db,
    logger,
    now,
    healthChecks: { broker: async () => client.connected },
    healthTimeoutMs: config.DATABASE_HEALTH_TIMEOUT_MS,
    ingest: (messages) => ingestBatch(ingestDeps, messages),
    commandQueue,
    commandExpiryHours: config.COMMAND_EXPIRY_HOURS,
    payments: { provider: payments.provider, currency: payments.currency, ...(payments.events ? { events: payments.events } : {}) },
    clockPolicy: clockPolicyOf(config),
  };
  const api = createApiHandler(deps, apiRoutes());
  const server = await startHttpServer({
    host: config.HOST,
    port: config.PORT,
    auth,
    logger,
    portalDir,
    metrics: () => metrics.scrape(),
    handlers: {
      api: (event) => api(event, lambdaContext()),
      chirpstack_http: chirpstackHttp,
      daraja,
    },
  });
  const live = startLiveChannel({ server: server.server, auth, feed: new LiveFeed(db.db, now()), now, logger });
  // close() gives requests in flight a grace period first; the live channel's sockets close before it.
  return {
    url: server.url,
    auth,
    stop: async () => {
      await live.close();
      await server.close();
    },
  };
}

/**
 * The Modbus collector inside the platform (a one-box installation): it posts to this platform's own API
 * with a collector token the platform signs (unless COLLECTOR_TOKEN is given), through the same HTTP path
 * and buffer as on site.
 */
async function startInProcessCollector({ logger }: Context, http: { url: string; auth: LocalAuth }, config: CollectorConfig) {
  // Signed again at every start; a year outlasts any run.
  const token = config.token ?? (await http.auth.sign('collector', 'collector-in-process', 365 * 86_400));
  const collector = await startCollector(
    { ...config, apiBaseUrl: http.url, token },
    { log: (level, message, details) => (level === 'warn' ? logger.warn(`collector: ${message}`, details ?? {}) : logger.info(`collector: ${message}`, details ?? {})) },
  );
  const gateways = config.gateways.map((g) => `${g.host}:${g.port} (${g.meters.length} meters)`).join(', ');
  return {
    collector,
    describe: `Collector      ${gateways}, buffer ${config.bufferDir}${collector.statusUrl ? `, status ${collector.statusUrl}/status` : ''}`,
    stop: () => collector.stop(),
  };
}
