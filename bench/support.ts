// What both benchmarks start from: the local platform in this process, in a temporary data directory
// (PGlite) or, with DATABASE_URL, in a PostgreSQL schema of its own, dropped afterwards.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startPlatform, type Platform } from '#runtime/platform';
import { localConfigSchema, parseConfig, type LocalConfig } from '#shared/config';
import { logger } from '#shared/logger';

export interface BenchPlatform {
  platform: Platform;
  config: LocalConfig;
  /** Stop the platform and remove its data directory or schema. */
  dispose: () => Promise<void>;
}

async function onPostgres(url: string, statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

export async function startBenchPlatform(name: string, env: Record<string, string> = {}): Promise<BenchPlatform> {
  logger.setLogLevel('ERROR');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `quantify-bench-${name}-`));
  const baseUrl = process.env.DATABASE_URL;
  const schema = baseUrl ? `bench_${randomBytes(4).toString('hex')}` : undefined;
  let dbUrl: string | undefined;
  if (baseUrl && schema) {
    await onPostgres(baseUrl, `CREATE SCHEMA ${schema}`);
    const u = new URL(baseUrl);
    u.searchParams.set('options', `-c search_path=${schema}`);
    dbUrl = u.toString();
  }
  const config = parseConfig(localConfigSchema, {
    ...process.env,
    PORT: '0',
    MQTT_PORT: '0',
    DATA_DIR: dataDir,
    SCHEDULER_ENABLED: 'false',
    ...env,
    ...(dbUrl ? { DATABASE_URL: dbUrl } : {}),
  });
  const platform = await startPlatform(config, logger);
  return {
    platform,
    config,
    dispose: async () => {
      await platform.stop();
      await rm(dataDir, { recursive: true, force: true });
      if (baseUrl && schema) await onPostgres(baseUrl, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

export function machine(): string {
  return `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}
