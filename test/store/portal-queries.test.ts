// The portal's queries on a real database, through the local driver and through the RDS Data API: the
// overview's counts are numbers that move with the estate, and the live feed announces a change once: a
// meter, a payment (received into suspense, then allocated), an account's balance, a parking space's state.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveFeed } from '#app/portal/live-feed';
import { insertAccount, insertCustomer } from '#store/accounts';
import { commandChangesSince, meterChangesSince } from '#store/changes';
import { invariantViolations } from '#store/ledger';
import { insertSpace, updateSpace } from '#store/parking';
import { allocatePayment, recordPayment } from '#store/payments';
import { dayStart, estateOverview, moneySince } from '#store/overview';
import { insertMeter } from '#store/registry';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('portal queries via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;

  beforeAll(async () => {
    testDb = await open();
  });
  afterAll(async () => {
    await testDb.close();
  });

  const newMeter = (relay: 'on' | 'off' | 'unknown' = 'unknown') =>
    insertMeter(testDb.db, { meter_no: `PQ-${randomUUID().slice(0, 12)}`, meter_type: 'electricity', unit: 'kWh', relay_state: relay });

  it('counts meters as numbers, moving with what is registered', async () => {
    const before = await estateOverview(testDb.db, new Date(Date.now() - 3600_000));

    await newMeter('off');
    const after = await estateOverview(testDb.db, new Date(Date.now() - 3600_000));

    expect(typeof after.meters.total).toBe('number');
    expect(after.meters.total).toBe(before.meters.total + 1);
    expect(after.meters.unknown).toBe(before.meters.unknown + 1);
    expect(after.meters.relayOff).toBe(before.meters.relayOff + 1);
    expect(after.commands.inFlight).toBe(before.commands.inFlight);
  });

  it("reads today's start in a time zone as a Date, and today's money per currency as numbers", async () => {
    const start = await dayStart(testDb.db, new Date('2026-03-10T01:30:00Z'), 'Africa/Nairobi');
    const money = await moneySince(testDb.db, new Date('2000-01-01T00:00:00Z'));

    expect(start.toISOString()).toBe('2026-03-09T21:00:00.000Z');
    for (const m of money) {
      expect(typeof m.currency).toBe('string');
      expect(typeof m.revenueMinor).toBe('number');
      expect(typeof m.consumptionMinor).toBe('number');
    }
    const overview = await estateOverview(testDb.db, new Date());
    expect(typeof overview.accounts.low).toBe('number');
    expect(typeof overview.suspense.amountMinor).toBe('number');
  });

  it('finds a meter changed since a moment, with its change time as a Date', async () => {
    const since = new Date(Date.now() - 1000);
    const meter = await newMeter();

    const changes = await meterChangesSince(testDb.db, since, 500);
    const commands = await commandChangesSince(testDb.db, new Date(Date.now() + 3600_000), 500);

    const mine = changes.find((c) => c.id === meter.id);
    expect(mine?.updated_at).toBeInstanceOf(Date);
    expect(commands).toEqual([]);
  });

  it('announces a changed meter once, however often the feed looks again', async () => {
    const feed = new LiveFeed(testDb.db, new Date(Date.now() - 1000));
    const meter = await newMeter();

    const first = await feed.poll(new Date());
    const second = await feed.poll(new Date());

    expect(first.filter((e) => e.meterId === meter.id)).toEqual([{ topic: 'meters', meterId: meter.id }]);
    expect(second.filter((e) => e.meterId === meter.id)).toEqual([]);
  });

  it('announces a payment received into suspense, then allocated, with the account whose balance it moved', async () => {
    const customer = await insertCustomer(testDb.db, { name: 'Live feed', phone: null });
    const account = await insertAccount(testDb.db, { customer_id: customer.id, account_no: `LF-${randomUUID().slice(0, 8)}`, currency: 'KES' });
    const feed = new LiveFeed(testDb.db, new Date(Date.now() - 1000));
    await feed.poll(new Date());
    const receipt = `LF${randomUUID().slice(0, 8).toUpperCase()}`;

    const recorded = await recordPayment(testDb.db, { provider: 'mpesa', receipt, channel: 'c2b', amountMinor: 1_500, currency: 'KES', phone: null, reference: 'nobody-at-all', transactedAt: null, raw: {} });
    const received = await feed.poll(new Date());
    await allocatePayment(testDb.db, recorded.paymentId, account.id, 'test:live-feed');
    // The allocation restamps the payment; a look a moment later sees the new status.
    const allocated = await feed.poll(new Date(Date.now() + 1));
    const again = await feed.poll(new Date(Date.now() + 2));

    expect(recorded.status).toBe('suspense');
    expect(received.filter((e) => e.topic === 'payments')).toContainEqual({ topic: 'payments', paymentId: recorded.paymentId, accountId: null, status: 'suspense' });
    expect(received.filter((e) => e.accountId === account.id)).toEqual([]);
    expect(allocated.filter((e) => e.paymentId === recorded.paymentId)).toEqual([{ topic: 'payments', paymentId: recorded.paymentId, accountId: account.id, status: 'applied' }]);
    expect(allocated.filter((e) => e.topic === 'accounts' && e.accountId === account.id)).toEqual([{ topic: 'accounts', accountId: account.id }]);
    expect(again.filter((e) => e.paymentId === recorded.paymentId || e.accountId === account.id)).toEqual([]);
    expect(await invariantViolations(testDb.db)).toEqual([]);
  });

  it('announces a parking space when it appears and whenever its state changes, with the new state, once', async () => {
    const feed = new LiveFeed(testDb.db, new Date(Date.now() - 1000));
    const space = await insertSpace(testDb.db, { code: `LF-${randomUUID().slice(0, 8)}`, name: 'Live feed bay', zone: 'A' });
    const added = await feed.poll(new Date());

    await updateSpace(testDb.db, space.id, { current_state: 'MAINTENANCE', override_reason: 'painting', override_by: 'test' });
    const changed = await feed.poll(new Date(Date.now() + 1));
    const again = await feed.poll(new Date(Date.now() + 2));

    expect(added.filter((e) => e.spaceId === space.id)).toEqual([{ topic: 'parking', spaceId: space.id, status: 'FREE' }]);
    expect(changed.filter((e) => e.spaceId === space.id)).toEqual([{ topic: 'parking', spaceId: space.id, status: 'MAINTENANCE' }]);
    expect(again.filter((e) => e.spaceId === space.id)).toEqual([]);
  });
});
