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

// ESP32 balance resync (app/billing/resync.ts): the debounce of resync pushes and the discrepancy tolerance.
const resyncSettings = {
  /** At most one balance resync push per ESP32 meter per this many seconds (a flapping meter gets no flood). */
  ESP32_RESYNC_DEBOUNCE_S: z.coerce.number().int().min(1).max(86_400).default(300),
  /** A balance report is a discrepancy when |reported − expected| > max(this % of |expected|, BALANCE_TOLERANCE_ABSOLUTE). */
  BALANCE_TOLERANCE_PERCENT: z.coerce.number().min(0).max(100).default(1),
  /** In the meter's balance unit: currency (major units, e.g. KES 1) or units (1 kWh). */
  BALANCE_TOLERANCE_ABSOLUTE: z.coerce.number().min(0).max(1_000_000).default(1),
};

/** The resync settings a configuration describes (app/billing/resync.ts DiscrepancySettings). */
export const resyncPolicyOf = (c: { ESP32_RESYNC_DEBOUNCE_S: number; BALANCE_TOLERANCE_PERCENT: number; BALANCE_TOLERANCE_ABSOLUTE: number }) => ({
  debounceS: c.ESP32_RESYNC_DEBOUNCE_S,
  tolerancePercent: c.BALANCE_TOLERANCE_PERCENT,
  toleranceAbsolute: c.BALANCE_TOLERANCE_ABSOLUTE,
});

/**
 * Raw readings older than this many days are deleted by the readings_retention job where their quarter-hour
 * rollups cover them (history then comes from the rollups); 0 keeps every raw reading. At least 35 days
 * otherwise, so the latest readings and a month of raw detail always stay.
 */
const historySettings = {
  READINGS_RETENTION_DAYS: z.coerce.number().int().refine((d) => d === 0 || (d >= 35 && d <= 36_500), '0 (keep all) or 35-36500 days').default(0),
};

/** The ingestion clock policy a configuration describes (domain/clock.ts ClockPolicy). */
export const clockPolicyOf = (c: { INGEST_MAX_CLOCK_AHEAD_S: number; INGEST_FUTURE_TIME_POLICY: 'correct' | 'quarantine' }) => ({
  maxAheadMs: c.INGEST_MAX_CLOCK_AHEAD_S * 1000,
  futureTime: c.INGEST_FUTURE_TIME_POLICY,
});

const ipList = z
  .string()
  .transform((v) => v.split(',').map((ip) => ip.trim()).filter(Boolean))
  .pipe(z.array(z.union([z.ipv4(), z.ipv6()])));

// M-Pesa (Daraja): shared by the local and the Lambda configuration.
const darajaSettings = {
  /** https://sandbox.safaricom.co.ke or https://api.safaricom.co.ke; unset locally: the built-in simulator. */
  DARAJA_BASE_URL: url.optional(),
  DARAJA_SHORTCODE: z.string().regex(/^\d{5,7}$/, 'a 5-7 digit paybill or till number').default('174379'),
  /** CustomerPayBillOnline (paybill) or CustomerBuyGoodsOnline (till). */
  DARAJA_TRANSACTION_TYPE: z.enum(['CustomerPayBillOnline', 'CustomerBuyGoodsOnline']).default('CustomerPayBillOnline'),
  /** Callbacks from other source addresses are refused (comma-separated; unset: any address). */
  DARAJA_ALLOWED_IPS: ipList.optional(),
  /** The public base URL Daraja calls back (https://api.example.com); locally the HTTP server's URL by default. */
  DARAJA_PUBLIC_URL: url.optional(),
  PAYMENTS_CURRENCY: z.string().regex(/^[A-Z]{3}$/).default('KES'),
};

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
  /** The embedded broker lets clients in without a login (a throwaway demo on loopback only; the banner says so). */
  MQTT_ALLOW_ANONYMOUS: bool.default(false),
  /** PEM files: the embedded broker speaks MQTT over TLS (required when HOST is beyond loopback). */
  MQTT_TLS_CERT: z.string().min(1).optional(),
  MQTT_TLS_KEY: z.string().min(1).optional(),
  /** The embedded broker's password for ChirpStack's MQTT integration (otherwise generated in DATA_DIR/mqtt-logins.json). */
  MQTT_CHIRPSTACK_PASSWORD: z.string().min(16, 'must be at least 16 characters').optional(),
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
  /** The billing job runs this often (minutes) locally; EventBridge runs it every 15 minutes in the cloud. */
  BILLING_INTERVAL_MIN: z.coerce.number().int().min(1).max(1440).default(15),
  ...clockSettings,
  ...resyncSettings,
  /** With an external broker (MQTT_URL), an ESP32's first message after this many seconds of silence counts as it coming back online. */
  ESP32_RECONNECT_SILENCE_S: z.coerce.number().int().min(1).max(86_400).default(600),
  ...historySettings,
  ...darajaSettings,
  DARAJA_CONSUMER_KEY: z.string().min(1).optional(),
  DARAJA_CONSUMER_SECRET: z.string().min(1).optional(),
  DARAJA_PASSKEY: z.string().min(1).optional(),
  /** The secret in the callback paths; generated into DATA_DIR on first start when unset. */
  DARAJA_CALLBACK_TOKEN: z.string().regex(/^[A-Za-z0-9_-]{32,128}$/, '32-128 letters, digits, _ or -').optional(),
  /** Africa's Talking SMS: with a username and API key, notifications go to it; otherwise to the local sink (logged). */
  AT_USERNAME: z.string().min(1).optional(),
  AT_API_KEY: z.string().min(1).optional(),
  /** A registered sender id or short code (the account's default when unset). */
  AT_SENDER_ID: z.string().min(1).max(20).optional(),
  /** Default: the sandbox for AT_USERNAME=sandbox, else the live API (a test points it at a fake). */
  AT_BASE_URL: url.optional(),
  /** The simulator's "customer" answers an STK Push after this long. */
  DARAJA_SIMULATOR_STK_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(3_000),
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
  ...resyncSettings,
  ...historySettings,
  ...darajaSettings,
  /** Secrets Manager JSON {consumerKey, consumerSecret, passkey, callbackToken}. */
  DARAJA_SECRET_ARN: z.string().optional(),
  /** The portal's AppSync Events HTTP domain: set on the functions that announce changes (lib/live-events.ts). */
  LIVE_EVENTS_HTTP_DOMAIN: z.string().regex(/^[a-z0-9.-]+$/, 'a host name (no scheme)').optional(),
  /** Set by Lambda itself; signs the live event publishes. */
  AWS_REGION: z.string().optional(),
  /** Africa's Talking SMS (the notification drain): username, sender id and the API key's secret (plain text). */
  AT_USERNAME: z.string().min(1).optional(),
  AT_SENDER_ID: z.string().min(1).max(20).optional(),
  AT_API_KEY_SECRET_ARN: z.string().optional(),
  AT_BASE_URL: url.optional(),
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
