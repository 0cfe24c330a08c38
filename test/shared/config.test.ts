import { describe, expect, it } from 'vitest';
import { ConfigError, localConfigSchema, parseConfig } from '#shared/config';

describe('configuration', () => {
  it('gives the embedded defaults when nothing is set', () => {
    const config = parseConfig(localConfigSchema, {});

    expect(config).toMatchObject({ PORT: 3000, MQTT_PORT: 1883, DATA_DIR: './.data', SCHEDULER_ENABLED: true });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('names each bad variable and why', () => {
    const parse = () => parseConfig(localConfigSchema, { PORT: 'eighty', DATABASE_URL: 'mysql://x', MQTT_URL: 'http://broker' });

    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/PORT:[\s\S]*DATABASE_URL: must be a postgres:\/\/[\s\S]*MQTT_URL: must be an mqtt:\/\//);
  });

  it('treats empty variables as unset', () => {
    expect(parseConfig(localConfigSchema, { PORT: '', DATABASE_URL: '' })).toMatchObject({ PORT: 3000 });
  });
});
