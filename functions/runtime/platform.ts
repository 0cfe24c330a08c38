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
import { MicroBatcher } from './batcher.ts';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import { httpIntegrationHandler } from '#app/ingest/http-integration';
import type { InboundMessage } from '#app/ingest/inbound';
import { routeFor, scheduledJobs, topicRoutes, type JobName } from '#shared/routes';
import { markOfflineMeters } from '#app/jobs/offline-meters';
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
    const client = await mqtt.connectAsync(mqttUrl, {
      clientId: `quantify-platform-${randomBytes(4).toString('hex')}`,
      ...(config.MQTT_USERNAME ? { username: config.MQTT_USERNAME } : {}),
      ...(config.MQTT_PASSWORD ? { password: config.MQTT_PASSWORD } : {}),
      reconnectPeriod: 1_000,
    });
    stops.push(() => client.endAsync());

    const ingestDeps: IngestDeps = {
      db: db.db,
      logger,
      now: () => new Date(),
      commandExpiryHours: config.COMMAND_EXPIRY_HOURS,
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
    const chirpstackHttp = httpIntegrationHandler({
      logger,
      now: () => new Date(),
      token: async () => config.CHIRPSTACK_HTTP_INTEGRATION_TOKEN,
      accept: (message) => ingest.push(message),
    });

    // Scheduled jobs: the same expressions EventBridge Scheduler runs in the cloud.
    const jobs: Partial<Record<JobName, () => Promise<void>>> = {
      offline_meters: async () => {
        const { markedOffline } = await markOfflineMeters(db.db, new Date());
        if (markedOffline.length) logger.warn('meters marked offline', { count: markedOffline.length, meters: markedOffline.slice(0, 50) });
      },
    };
    if (config.SCHEDULER_ENABLED) {
      for (const job of scheduledJobs) {
        const run = jobs[job.name];
        if (!run) continue;
        const task = schedule(job.expression, run, (error) => logger.error('scheduled job failed', { job: job.name, error: error as Error }));
        stops.push(async () => task.stop());
      }
    }

    const auth = localAuth(await loadOrCreateKey(dataDir), config.AUTH_ISSUER, config.AUTH_AUDIENCE);
    const deps: AppDeps = {
      db: db.db,
      logger,
      now: () => new Date(),
      healthChecks: { broker: async () => client.connected },
      ingest: (messages) => ingestBatch(ingestDeps, messages),
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
      describe: () => [
        `HTTP API       ${http.url}  (GET /health; token: npm run token -- operator)`,
        `MQTT broker    ${mqttUrl}${broker ? '  (embedded)' : '  (external)'}`,
        `Ingesting      ${topicRoutes.map((r) => r.topicFilter).join(', ')}`,
        `ChirpStack HTTP integration ${config.CHIRPSTACK_HTTP_INTEGRATION_TOKEN ? `${http.url}/integrations/chirpstack?event=up` : 'disabled (set CHIRPSTACK_HTTP_INTEGRATION_TOKEN)'}`,
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

/** The parts of a Lambda context the handlers read, for in-process invocation. */
function lambdaContext() {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:local',
    memoryLimitInMB: '1024',
    awsRequestId: randomBytes(8).toString('hex'),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
