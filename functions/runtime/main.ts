// `npm start`: the platform on one machine, on embedded defaults (PGlite, aedes) unless DATABASE_URL /
// MQTT_URL point elsewhere. SIGINT/SIGTERM stop it cleanly: in-flight work finishes, the database closes.
import 'dotenv/config';
import { ConfigError, localConfigSchema, parseConfig } from '#shared/config';
import { logger } from '#shared/logger';
import { startPlatform } from './platform.ts';
import { collectorConfig, CollectorConfigError, type CollectorConfig } from '../collector/config.ts';

async function main(): Promise<void> {
  let config;
  let collector: CollectorConfig | undefined;
  try {
    config = parseConfig(localConfigSchema, process.env);
    if (config.COLLECTOR_ENABLED) collector = collectorConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof CollectorConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (config.LOG_LEVEL !== 'SILENT') logger.setLogLevel(config.LOG_LEVEL);
  const platform = await startPlatform(config, logger, { collector });
  let stopping: { signal: string; at: number } | undefined;
  const shutdown = (signal: string) => {
    if (stopping) {
      // One Ctrl-C can arrive twice: the terminal signals the whole process group, and tsx (`npm start`)
      // relays it again when the app does not confirm it within 30 ms, as happens on a busy machine.
      if (signal === stopping.signal && Date.now() - stopping.at < 1_000) return;
      // A second Ctrl-C: the user does not want to wait for in-flight work (which stays unacknowledged
      // to the broker, so a persistent session delivers it again after the restart).
      console.error(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = { signal, at: Date.now() };
    console.log(`${signal} received: stopping (finishing in-flight work)...`);
    platform
      .stop()
      .then(() => {
        console.log('stopped cleanly');
        process.exit(0);
      })
      .catch((error: unknown) => {
        console.error('error while stopping', error);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // Announced only once the signals are handled: whoever waits for this line may stop it at once.
  console.log(['Quantify is running:', ...platform.describe().map((l) => `  ${l}`)].join('\n'));
}

main().catch((error: unknown) => {
  console.error('Quantify failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
