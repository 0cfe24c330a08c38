// `npm run collector`: the Modbus collector on site, next to the gateway, posting to the platform over
// HTTP. Configuration from the environment (and .env): see config.ts. SIGINT/SIGTERM stop it after the
// cycle and the post in flight; what is not posted stays in the buffer for the next start.
import 'dotenv/config';
import { logger } from '#shared/logger';
import { collectorConfig, CollectorConfigError } from './config.ts';
import { startCollector } from './collector.ts';

let config;
try {
  config = collectorConfig(process.env);
} catch (error) {
  if (error instanceof CollectorConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}
if (!config.token && !config.clientCredentials) logger.warn('no credential: set COLLECTOR_TOKEN (npm run token -- collector) or COLLECTOR_TOKEN_URL/COLLECTOR_CLIENT_ID/COLLECTOR_CLIENT_SECRET; the platform will refuse the readings');
const collector = await startCollector(config, {
  log: (level, message, details) => (level === 'warn' ? logger.warn(message, details ?? {}) : logger.info(message, details ?? {})),
});
console.log(
  [
    'Quantify collector is running:',
    ...config.gateways.map((g) => `  gateway ${g.name ?? ''} modbus-${g.protocol}://${g.host}:${g.port}  slave ids ${g.meters.map((m) => m.slaveId).join(',')} every ${g.pollIntervalS} s`),
    `  platform ${config.apiBaseUrl}/readings`,
    `  buffer   ${config.bufferDir} (at most ${config.bufferMaxReadings} readings)`,
    ...(collector.statusUrl ? [`  status   ${collector.statusUrl}/status`] : []),
  ].join('\n'),
);
let stopping = false;
const stop = (signal: string) => {
  if (stopping) process.exit(130);
  stopping = true;
  console.log(`${signal} received: stopping the collector...`);
  collector
    .stop()
    .then(() => process.exit(0))
    .catch((error: unknown) => {
      console.error('error while stopping', error);
      process.exit(1);
    });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
