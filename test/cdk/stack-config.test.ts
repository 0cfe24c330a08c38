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
    expect(config).toEqual({ deletionProtection: true, dbMinCapacity: 0.5, dbMaxCapacity: 4, corsAllowOrigins: [], portalDevUrls: ['http://127.0.0.1:3000/'], billingIntervalMinutes: 15, readingsRetentionDays: 0 });
  });

  it('reads the portal sign-in settings and refuses a hosted UI prefix Cognito would refuse', () => {
    // Act
    const config = configOf({ cognitoDomainPrefix: 'estate-ops', portalDevUrls: 'http://127.0.0.1:3000/, http://localhost:5173/' });

    // Assess
    expect(config).toMatchObject({ cognitoDomainPrefix: 'estate-ops', portalDevUrls: ['http://127.0.0.1:3000/', 'http://localhost:5173/'] });
    expect(() => configOf({ cognitoDomainPrefix: 'Estate_Ops' })).toThrow(/cognitoDomainPrefix: lower-case letters/);
    expect(() => configOf({ cognitoDomainPrefix: 'my-aws-portal' })).toThrow(/cognitoDomainPrefix: must not contain aws/);
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

  it('reads the billing interval in whole minutes from 1 to 1440, naming the setting when it is not', () => {
    expect(configOf({ billingIntervalMinutes: '5' }).billingIntervalMinutes).toBe(5);
    expect(configOf({ billingIntervalMinutes: 60 }).billingIntervalMinutes).toBe(60);
    for (const bad of ['0', '1441', '7.5', 'often']) {
      expect(() => configOf({ billingIntervalMinutes: bad }), bad).toThrow(/billingIntervalMinutes/);
    }
  });
});
