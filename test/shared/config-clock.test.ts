// The ingestion clock settings: a tolerance for message times ahead of their receive time, and a policy.
import { describe, expect, it } from 'vitest';
import { clockPolicyOf, ConfigError, lambdaConfigSchema, localConfigSchema, parseConfig } from '#shared/config';

describe('ingestion clock settings', () => {
  it('default to correcting times more than 300 s ahead', () => {
    expect(clockPolicyOf(parseConfig(localConfigSchema, {}))).toEqual({ maxAheadMs: 300_000, futureTime: 'correct' });
  });

  it('are read by the Lambda configuration too', () => {
    const config = parseConfig(lambdaConfigSchema, { DB_CLUSTER_ARN: 'arn:c', DB_SECRET_ARN: 'arn:s', INGEST_MAX_CLOCK_AHEAD_S: '60', INGEST_FUTURE_TIME_POLICY: 'quarantine' });

    expect(clockPolicyOf(config)).toEqual({ maxAheadMs: 60_000, futureTime: 'quarantine' });
  });

  it('refuse a policy that is neither correct nor quarantine', () => {
    expect(() => parseConfig(localConfigSchema, { INGEST_FUTURE_TIME_POLICY: 'ignore' })).toThrow(ConfigError);
  });
});
