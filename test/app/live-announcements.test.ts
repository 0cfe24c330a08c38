// Announcing what a Lambda changed (the cloud's live updates): after the wrapped handler ran, the live feed's
// events for what changed while it ran go to the live-events port; nothing is published when nothing changed;
// a sink that fails is logged and does not fail the handler; without a sink the handler is left as it is.
// PGlite, or PostgreSQL with DATABASE_URL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withLiveAnnouncements, type LiveEvent, type LiveEventSink } from '#app/portal/live-events';
import { createMeter } from '#app/registry/registry';
import { invariantViolations } from '#store/ledger';
import { insertSpace, updateSpace } from '#store/parking';
import { recordPayment } from '#store/payments';
import { logger } from '#shared/logger';
import { randomEui } from '../support/chirpstack.ts';
import { openTestDb, type TestDb } from '../support/db.ts';

let testDb: TestDb;
const actor = { principal: { subject: 'test', roles: ['admin' as const] } };
beforeAll(async () => {
  logger.setLogLevel('SILENT');
  testDb = await openTestDb();
});
afterAll(async () => {
  await testDb.close();
});

const recording = () => {
  const published: LiveEvent[][] = [];
  const sink: LiveEventSink = { publish: (events) => (published.push([...events]), Promise.resolve()) };
  return { published, sink };
};
const register = () =>
  createMeter(testDb.db, { meterNo: `L${randomEui().slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_uc100', devEui: randomEui(), lifecycle: 'active' } }, actor, new Date());

describe('live announcements', () => {
  it('publishes nothing when the handler changed nothing', async () => {
    const { published, sink } = recording();
    const handler = withLiveAnnouncements({ db: testDb.db, live: sink, logger, now: () => new Date() }, () => Promise.resolve('done'));

    expect(await handler()).toBe('done');
    expect(published).toEqual([]);
  });

  it('publishes the meters the handler changed, after it ran, and returns its result', async () => {
    const { published, sink } = recording();
    const handler = withLiveAnnouncements({ db: testDb.db, live: sink, logger, now: () => new Date() }, async (n: number) => {
      expect(published).toEqual([]);
      const { meter } = await register();
      return { n, id: meter.id };
    });

    const result = await handler(7);

    expect(result.n).toBe(7);
    expect(published.flat()).toContainEqual({ topic: 'meters', meterId: result.id });
  });

  it('publishes the payments and parking spaces the handler changed, each on its topic with its new status', async () => {
    const { published, sink } = recording();
    const receipt = `LA${randomEui().slice(0, 8)}`;
    const handler = withLiveAnnouncements({ db: testDb.db, live: sink, logger, now: () => new Date() }, async () => {
      const payment = await recordPayment(testDb.db, { provider: 'mpesa', receipt, channel: 'c2b', amountMinor: 700, currency: 'KES', phone: null, reference: 'no-such-account', transactedAt: null, raw: {} });
      const space = await insertSpace(testDb.db, { code: `LA-${receipt}`, name: 'Announced bay', zone: 'B' });
      await updateSpace(testDb.db, space.id, { current_state: 'OCCUPIED' });
      return { paymentId: payment.paymentId, spaceId: space.id };
    });

    const { paymentId, spaceId } = await handler();

    expect(published.flat()).toContainEqual({ topic: 'payments', paymentId, accountId: null, status: 'suspense' });
    expect(published.flat()).toContainEqual({ topic: 'parking', spaceId, status: 'OCCUPIED' });
    expect(await invariantViolations(testDb.db)).toEqual([]);
  });

  it('logs a sink that fails and still returns the handler’s result', async () => {
    const failing: LiveEventSink = { publish: () => Promise.reject(new Error('AppSync unreachable')) };
    const warnings: unknown[] = [];
    const log = Object.assign(Object.create(logger) as typeof logger, { warn: (...args: unknown[]) => void warnings.push(args) });
    const handler = withLiveAnnouncements({ db: testDb.db, live: failing, logger: log, now: () => new Date() }, async () => (await register()).meter.id);

    await expect(handler()).resolves.toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(warnings)).toContain('AppSync unreachable');
  });

  it('leaves the handler as it is without a sink', () => {
    const handler = () => Promise.resolve(1);
    expect(withLiveAnnouncements({ db: testDb.db, live: undefined, logger, now: () => new Date() }, handler)).toBe(handler);
  });
});
