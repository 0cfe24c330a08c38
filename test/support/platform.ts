// Start the whole local platform in-process on free ports: PGlite in a temporary data directory and the
// embedded broker by default, or real PostgreSQL (an isolated schema) and Mosquitto when DATABASE_URL /
// MQTT_URL are set.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import type { Role } from '#domain/roles';
import type { ServiceIdentity } from '#domain/device-access';
import { localConfigSchema, parseConfig } from '#shared/config';
import { logger } from '#shared/logger';
import { startPlatform, type Platform, type PlatformOptions } from '#runtime/platform';
import { databaseUrl, mqttUrl } from './db.ts';

export interface TestPlatform extends Platform {
  dataDir: string;
  token(role: Role): Promise<string>;
  /**
   * MQTT connect options for a service identity: its login on the embedded broker; nothing on an external
   * broker without MQTT_USERNAME (the tests' Mosquitto allows anonymous clients).
   */
  mqttAuth(identity?: ServiceIdentity): { username?: string; password?: string };
  /** stop() and remove the data directory / schema. */
  dispose(): Promise<void>;
}

export async function startTestPlatform(env: Record<string, string> = {}, options: { dataDir?: string; schema?: string; platform?: PlatformOptions } = {}): Promise<TestPlatform> {
  logger.setLogLevel('SILENT');
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'quantify-test-')));
  let schema = options.schema;
  let dbUrl: string | undefined;
  if (databaseUrl) {
    schema ??= `p_${randomBytes(6).toString('hex')}`;
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.end();
    const url = new URL(databaseUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    dbUrl = url.toString();
  }
  const config = parseConfig(localConfigSchema, {
    PORT: '0',
    MQTT_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'SILENT',
    ...(dbUrl ? { DATABASE_URL: dbUrl } : {}),
    ...(mqttUrl ? { MQTT_URL: mqttUrl } : {}),
    ...env,
  });
  const platform = await startPlatform(config, logger, options.platform);
  return Object.assign(platform, {
    dataDir,
    token: (role: Role) => platform.auth.sign(role),
    mqttAuth: (identity: ServiceIdentity = 'platform') => {
      const login = platform.mqttLogins[identity];
      return login ? { username: login.username, password: login.password } : {};
    },
    dispose: async () => {
      await platform.stop();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
      if (databaseUrl && schema && !options.schema) {
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    },
  });
}
