// The stack settings come from CDK context: strings from `-c key=value`, typed values from cdk.json.
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { StackConfigError, stackConfigFromContext } from '../../lib/stack-config.ts';

const configOf = (context: Record<string, unknown>) => stackConfigFromContext(new App({ context }).node);

describe('stack settings from CDK context', () => {
  it('protects the database and uses small capacity when nothing is set', () => {
    // Act
    const config = configOf({});

    // Assess
    expect(config).toEqual({ deletionProtection: true, dbMinCapacity: 0.5, dbMaxCapacity: 4, corsAllowOrigins: [], readingsRetentionDays: 0 });
  });

  it('reads command-line strings as the booleans, numbers and lists they spell', () => {
    // Act
    const config = configOf({
      deletionProtection: 'false',
      dbMinCapacity: '0',
      dbMaxCapacity: '8',
      corsAllowOrigins: 'https://portal.example.com, https://admin.example.com',
    });

    // Assess
    expect(config).toMatchObject({
      deletionProtection: false,
      dbMinCapacity: 0,
      dbMaxCapacity: 8,
      corsAllowOrigins: ['https://portal.example.com', 'https://admin.example.com'],
    });
  });

  it('refuses an IoT endpoint given as a URL, naming the setting', () => {
    // Act
    const read = () => configOf({ iotDataEndpoint: 'https://abc-ats.iot.eu-west-1.amazonaws.com' });

    // Assess
    expect(read).toThrow(StackConfigError);
    expect(read).toThrow(/iotDataEndpoint: must be a host name/);
  });

  it('refuses a minimum capacity above the maximum', () => {
    expect(() => configOf({ dbMinCapacity: 8, dbMaxCapacity: 2 })).toThrow(/dbMinCapacity must not exceed dbMaxCapacity/);
  });
});
