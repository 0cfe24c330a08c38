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

export interface Platform {
  config: LocalConfig;
  db: DbHandle;
  mqtt: MqttClient;
  mqttUrl: string;
  httpUrl: string;
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

    const auth = localAuth(await loadOrCreateKey(dataDir), config.AUTH_ISSUER, config.AUTH_AUDIENCE);
    const deps: AppDeps = {
      db: db.db,
      logger,
      now: () => new Date(),
      healthChecks: { broker: async () => client.connected },
    };
    const api = createApiHandler(deps, apiRoutes());
    const http: LocalHttpServer = await startHttpServer({
      host: config.HOST,
      port: config.PORT,
      auth,
      logger,
      handlers: {
        api: (event) => api(event, lambdaContext()),
        chirpstack_http: async () => ({ statusCode: 501, body: '' }),
      },
    });
    stops.push(() => http.close());

    return {
      config,
      db,
      mqtt: client,
      mqttUrl,
      httpUrl: http.url,
      auth,
      broker,
      describe: () => [
        `HTTP API       ${http.url}  (GET /health; token: npm run token -- operator)`,
        `MQTT broker    ${mqttUrl}${broker ? '  (embedded)' : '  (external)'}`,
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
