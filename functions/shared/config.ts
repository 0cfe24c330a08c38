// Configuration: read once from the environment (and an optional .env file), validated with zod, then
// passed down. Nothing else in the code reads process.env.
import * as z from 'zod';
import { issueLines } from '#domain/issues';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const url = z.string().url();

// Message times ahead of their receive time (issue 8, "clocks that can't freeze a meter"): the tolerance
// in seconds, and whether a message dated further ahead is corrected to its receive time (kept, with a
// warning on the reading) or quarantined. Shared by the local and the Lambda configuration.
const clockSettings = {
  INGEST_MAX_CLOCK_AHEAD_S: z.coerce.number().int().min(0).max(86_400).default(300),
  INGEST_FUTURE_TIME_POLICY: z.enum(['correct', 'quarantine']).default('correct'),
};

/** The ingestion clock policy a configuration describes (domain/clock.ts ClockPolicy). */
export const clockPolicyOf = (c: { INGEST_MAX_CLOCK_AHEAD_S: number; INGEST_FUTURE_TIME_POLICY: 'correct' | 'quarantine' }) => ({
  maxAheadMs: c.INGEST_MAX_CLOCK_AHEAD_S * 1000,
  futureTime: c.INGEST_FUTURE_TIME_POLICY,
});

export const localConfigSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./.data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  MQTT_URL: z.string().regex(/^(mqtts?|wss?|tcp):\/\//, 'must be an mqtt:// (or mqtts://, ws://) URL').optional(),
  MQTT_PORT: port.default(1883),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  /** A fixed client id for a persistent broker session (QoS 1 messages kept across restarts). */
  MQTT_CLIENT_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (1-64)').optional(),
  /** MQTT protocol of the platform's client (default: 5 with MQTT_URL, 4 = 3.1.1 on the embedded broker). */
  MQTT_PROTOCOL_VERSION: z.enum(['4', '5']).transform((v): 4 | 5 => (v === '5' ? 5 : 4)).optional(),
  CHIRPSTACK_API_URL: url.optional(),
  CHIRPSTACK_API_KEY: z.string().optional(),
  CHIRPSTACK_HTTP_INTEGRATION_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  AUTH_ISSUER: z.string().min(1).default('quantify-local'),
  AUTH_AUDIENCE: z.string().min(1).default('quantify-api'),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  INGEST_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  INGEST_BATCH_WINDOW_MS: z.coerce.number().int().min(0).max(10_000).default(20),
  /** Batches written at once (default: 1 on PGlite, which is one connection; 3 on PostgreSQL). */
  INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(16).optional(),
  /** Messages ingestion holds unacknowledged at once (default: 4 × INGEST_BATCH_SIZE, at most 65535). */
  INGEST_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(65_535).optional(),
  COMMAND_EXPIRY_HOURS: z.coerce.number().positive().max(24 * 30).default(48),
  // Database faults (DATABASE_URL): how long before a connection or a statement counts as lost.
  /** Connecting (or waiting for a free pooled connection) longer than this fails as "database unavailable". */
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(5_000),
  /** A statement running longer is cancelled by the server; one unanswered for this long plus as long again (at most 5 s more: a silent partition) fails and drops its connection. */
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /** An idle pooled connection is closed after this long. */
  DATABASE_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  /** GET /health waits this long for the database to answer before reporting it unreachable (PGlite too). */
  DATABASE_HEALTH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3_000),
  SCHEDULER_ENABLED: bool.default(true),
  /** Run the Modbus collector inside the platform (configured by the collector's own variables: MODBUS_HOST, METER_IDS, …). */
  COLLECTOR_ENABLED: bool.default(false),
  ...clockSettings,
});
export type LocalConfig = z.infer<typeof localConfigSchema>;

/** Lambda environment: what the CDK constructs set on each function. */
export const lambdaConfigSchema = z.object({
  DB_CLUSTER_ARN: z.string().min(1),
  DB_SECRET_ARN: z.string().min(1),
  DB_NAME: z.string().min(1).default('quantify'),
  COMMAND_QUEUE_URL: z.string().optional(),
  INGEST_QUEUE_URL: z.string().optional(),
  CHIRPSTACK_API_URL: url.optional(),
  CHIRPSTACK_API_KEY_SECRET_ARN: z.string().optional(),
  CHIRPSTACK_HTTP_INTEGRATION_TOKEN_SECRET_ARN: z.string().optional(),
  IOT_DATA_ENDPOINT: z.string().optional(),
  COMMAND_EXPIRY_HOURS: z.coerce.number().positive().max(24 * 30).default(48),
  SCHEMA_DIR: z.string().optional(),
  ...clockSettings,
});
export type LambdaConfig = z.infer<typeof lambdaConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse an environment against a schema; the error names each bad variable and why. */
export function parseConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  // Empty strings mean "unset": `FOO=` in a .env file should fall back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const lines = issueLines(result.error, '(environment)').map((l) => `  ${l.path}: ${l.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** The Lambda configuration, read once per container. */
export function lambdaConfig(): LambdaConfig {
  return parseConfig(lambdaConfigSchema, process.env);
}
