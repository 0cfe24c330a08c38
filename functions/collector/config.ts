// The collector's configuration: the seed's variables (MODBUS_HOST, MODBUS_PORT, POLL_INTERVAL,
// METER_IDS, API_BASE_URL, API_TIMEOUT) for one gateway, or a JSON file (COLLECTOR_CONFIG) listing several
// gateways and their meters; plus the credential, the on-disk buffer and the status endpoint. Read once,
// validated with zod; a bad value stops the start with a message naming it.
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { formatIssues } from '#domain/issues';
import { meterNoSchema } from '#domain/topics';
import { sdmModels } from '#domain/sdm-registers';
import { COLLECTOR_SCOPE } from '#domain/roles';
import type { ClientCredentials } from './token.ts';

const slaveId = z.number().int().min(1).max(247);

export const meterConfigSchema = z.strictObject({
  slaveId,
  /** The platform's meter id (uuid) or meter number; the seed posts the slave id itself. */
  meterId: z.union([z.string().uuid(), meterNoSchema]),
  model: z.enum(sdmModels).default('SDM630'),
});

export const gatewayConfigSchema = z.strictObject({
  name: z.string().min(1).max(64).optional(),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(502),
  /** `tcp`: Modbus TCP (MBAP); `rtu-over-tcp`: RTU frames with CRC through a transparent gateway. */
  protocol: z.enum(['tcp', 'rtu-over-tcp']).default('tcp'),
  pollIntervalS: z.number().positive().max(86_400).default(60),
  /** One request's answer within this long, or it is retried / the meter counts as not answering. */
  timeoutMs: z.number().int().min(50).max(60_000).default(1_000),
  retries: z.number().int().min(0).max(5).default(1),
  /** A meter that keeps failing is probed again after 1, 2, 4… poll intervals, at most this long apart. */
  maxBackoffS: z.number().positive().max(86_400).default(300),
  meters: z.array(meterConfigSchema).min(1).max(247),
});
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type MeterConfig = z.infer<typeof meterConfigSchema>;

const fileSchema = z.strictObject({ gateways: z.array(gatewayConfigSchema).min(1) });

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** `1,2,3` (meter number = slave id, as the seed posts) or `1:MTR-001,2:MTR-002`. */
const meterIds = z
  .string()
  .trim()
  .regex(/^\d+(:[^,:]+)?(,\d+(:[^,:]+)?)*$/, 'slave ids, comma-separated, each optionally :meterNo or :meterId (e.g. 1,2,3 or 1:MTR-001)')
  .transform((s) => s.split(',').map((part) => {
    const [id = '', meter] = part.split(':');
    return { slaveId: Number(id), meterId: meter ?? id };
  }));

export const collectorEnvSchema = z.object({
  MODBUS_HOST: z.string().min(1).optional(),
  MODBUS_PORT: z.coerce.number().int().min(1).max(65535).default(502),
  MODBUS_PROTOCOL: z.enum(['tcp', 'rtu-over-tcp']).default('tcp'),
  MODBUS_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(1_000),
  MODBUS_RETRIES: z.coerce.number().int().min(0).max(5).default(1),
  METER_IDS: meterIds.optional(),
  METER_MODEL: z.enum(sdmModels).default('SDM630'),
  POLL_INTERVAL: z.coerce.number().positive().max(86_400).default(60),
  API_BASE_URL: z.string().url().default('http://127.0.0.1:3000'),
  API_TIMEOUT: z.coerce.number().positive().max(600).default(30),
  COLLECTOR_TOKEN: z.string().min(1).optional(),
  /** Cloud: OAuth2 client credentials (the Cognito app client of the stack's CollectorClientId/CollectorTokenUrl outputs). */
  COLLECTOR_TOKEN_URL: z.string().url().optional(),
  COLLECTOR_CLIENT_ID: z.string().min(1).optional(),
  COLLECTOR_CLIENT_SECRET: z.string().min(1).optional(),
  COLLECTOR_TOKEN_SCOPE: z.string().min(1).default(COLLECTOR_SCOPE),
  COLLECTOR_CONFIG: z.string().min(1).optional(),
  COLLECTOR_BUFFER_DIR: z.string().min(1).default('./.collector-buffer'),
  COLLECTOR_BUFFER_MAX_READINGS: z.coerce.number().int().min(100).max(100_000_000).default(1_000_000),
  COLLECTOR_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(200),
  COLLECTOR_STATUS_HOST: z.string().default('127.0.0.1'),
  /** 0 = any free port; `off` = no status endpoint. */
  COLLECTOR_STATUS_PORT: z.union([z.literal('off'), z.coerce.number().int().min(0).max(65535)]).default(8081),
  COLLECTOR_QUIET: bool.default(false),
});

export interface CollectorConfig {
  gateways: GatewayConfig[];
  apiBaseUrl: string;
  apiTimeoutMs: number;
  /** A fixed bearer token (COLLECTOR_TOKEN). */
  token: string | undefined;
  /** Or OAuth2 client credentials (COLLECTOR_TOKEN_URL, COLLECTOR_CLIENT_ID, COLLECTOR_CLIENT_SECRET). */
  clientCredentials: ClientCredentials | undefined;
  bufferDir: string;
  bufferMaxReadings: number;
  batchSize: number;
  statusHost: string;
  statusPort: number | 'off';
  quiet: boolean;
}

export class CollectorConfigError extends Error {
  override name = 'CollectorConfigError';
}

function fail(where: string, error: z.ZodError): never {
  throw new CollectorConfigError(`${where}: ${formatIssues(error)}`);
}

/** The configuration from the environment, and from COLLECTOR_CONFIG when set (its gateways replace MODBUS_*). */
export function collectorConfig(env: Record<string, string | undefined>, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): CollectorConfig {
  // Empty strings mean unset, as for the platform's variables (`FOO=` in a .env file).
  const parsed = collectorEnvSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (!parsed.success) fail('collector configuration', parsed.error);
  const e = parsed.data;
  let gateways: GatewayConfig[];
  if (e.COLLECTOR_CONFIG) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFile(e.COLLECTOR_CONFIG));
    } catch (error) {
      throw new CollectorConfigError(`COLLECTOR_CONFIG ${e.COLLECTOR_CONFIG}: ${(error as Error).message}`);
    }
    const file = fileSchema.safeParse(raw);
    if (!file.success) fail(`COLLECTOR_CONFIG ${e.COLLECTOR_CONFIG}`, file.error);
    gateways = file.data.gateways;
  } else {
    if (!e.MODBUS_HOST) throw new CollectorConfigError('MODBUS_HOST: set the gateway address (or COLLECTOR_CONFIG for several gateways)');
    if (!e.METER_IDS) throw new CollectorConfigError('METER_IDS: set the slave ids to poll, e.g. 1,2,3 or 1:MTR-001,2:MTR-002');
    const gateway = gatewayConfigSchema.safeParse({
      host: e.MODBUS_HOST,
      port: e.MODBUS_PORT,
      protocol: e.MODBUS_PROTOCOL,
      pollIntervalS: e.POLL_INTERVAL,
      timeoutMs: e.MODBUS_TIMEOUT_MS,
      retries: e.MODBUS_RETRIES,
      meters: e.METER_IDS.map((m) => ({ ...m, model: e.METER_MODEL })),
    });
    if (!gateway.success) fail('METER_IDS', gateway.error);
    gateways = [gateway.data];
  }
  for (const g of gateways) {
    const ids = g.meters.map((m) => m.slaveId);
    if (new Set(ids).size !== ids.length) throw new CollectorConfigError(`gateway ${g.host}:${g.port}: a slave id is listed twice`);
  }
  const oauth = [e.COLLECTOR_TOKEN_URL, e.COLLECTOR_CLIENT_ID, e.COLLECTOR_CLIENT_SECRET];
  if (oauth.some((v) => v !== undefined) && oauth.some((v) => v === undefined)) {
    throw new CollectorConfigError('COLLECTOR_TOKEN_URL, COLLECTOR_CLIENT_ID and COLLECTOR_CLIENT_SECRET: set all three (client credentials) or none');
  }
  if (e.COLLECTOR_TOKEN && e.COLLECTOR_TOKEN_URL) throw new CollectorConfigError('COLLECTOR_TOKEN and COLLECTOR_TOKEN_URL: set one credential, not both');
  const clientCredentials = e.COLLECTOR_TOKEN_URL && e.COLLECTOR_CLIENT_ID && e.COLLECTOR_CLIENT_SECRET
    ? { tokenUrl: e.COLLECTOR_TOKEN_URL, clientId: e.COLLECTOR_CLIENT_ID, clientSecret: e.COLLECTOR_CLIENT_SECRET, scope: e.COLLECTOR_TOKEN_SCOPE }
    : undefined;
  return {
    gateways,
    clientCredentials,
    apiBaseUrl: e.API_BASE_URL.replace(/\/+$/, ''),
    apiTimeoutMs: e.API_TIMEOUT * 1000,
    token: e.COLLECTOR_TOKEN,
    bufferDir: e.COLLECTOR_BUFFER_DIR,
    bufferMaxReadings: e.COLLECTOR_BUFFER_MAX_READINGS,
    batchSize: e.COLLECTOR_BATCH_SIZE,
    statusHost: e.COLLECTOR_STATUS_HOST,
    statusPort: e.COLLECTOR_STATUS_PORT,
    quiet: e.COLLECTOR_QUIET,
  };
}
