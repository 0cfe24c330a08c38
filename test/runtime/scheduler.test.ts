import { describe, expect, it } from 'vitest';
import { parseRate, toCroner } from '#runtime/scheduler';
import { scheduledJobs } from '#shared/routes';

describe('local scheduler', () => {
  it('reads EventBridge rate expressions', () => {
    expect(parseRate('rate(5 minutes)')).toBe(300_000);
    expect(parseRate('rate(1 hour)')).toBe(3_600_000);
    expect(parseRate('rate(five minutes)')).toBeUndefined();
  });

  it('turns EventBridge cron (with year) into a five-field expression', () => {
    expect(toCroner('cron(0 2 * * ? *)')).toBe('0 2 * * ?');
    expect(toCroner('cron(0 2 * *)')).toBeUndefined();
  });

  it('understands every shared job expression', () => {
    for (const job of scheduledJobs) expect(parseRate(job.expression) ?? toCroner(job.expression)).toBeDefined();
  });
});
