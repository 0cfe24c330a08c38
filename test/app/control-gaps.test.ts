// Three gaps of balance control (issue 11), on the database driver (PGlite, or PostgreSQL when
// DATABASE_URL is set) and through the RDS Data API (the cloud path): the SMS at exhausted says what actually happens (nothing for an exempt account; inside
// friendly-credit hours, when the supply will be disconnected, once per crossing); debt recovery a failed
// payment listener missed is caught up by the billing job, once; an admin's credit re-arms the warnings and
// reconnects like a payment, without the payment SMS or debt recovery. The ledger and arrears invariants
// hold after each.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import { controlAccounts, type ControlDeps } from '#app/billing/control';
import { balanceControlEvents, billingJob } from '#app/billing/job';
import { notifyCredited } from '#app/payments/payments';
import type { Db } from '#store/db';
import { logger } from '#shared/logger';
import { invariantViolations } from '#store/ledger';
import { recordPayment } from '#store/payments';
import { notificationsOf } from '#store/notifications';
import { estateFixtures } from '../support/estate.ts';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('balance control gaps via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let db: Db;
  let call: (input: EventInput) => Promise<{ status: number; body: unknown }>;
  let clock = new Date();
  const now = () => clock;
  let deps: ControlDeps;

  beforeAll(async () => {
    testDb = await open();
    db = testDb.db;
    logger.setLogLevel('SILENT');
    deps = { db, logger, now, commandQueue: { enqueue: async () => undefined }, commandExpiryHours: 48 };
    // The API as the runtimes wire it: payment (and adjustment) events go to balance control.
    const handler = createApiHandler({
      ...deps,
      healthChecks: {},
      ingest: async () => {
        throw new Error('not used');
      },
      payments: { provider: undefined, currency: 'KES', events: balanceControlEvents(deps) },
    });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterEach(async () => {
    clock = new Date();
    expect(await invariantViolations(db)).toEqual([]);
  });
  afterAll(async () => {
    await testDb.close();
  });

  const { site, account, relayMeter } = estateFixtures(() => ({ call, db }), { name: 'Wanjiru Kamau', phone: '+254711000333', accountPrefix: 'CG' });

  const relayCommands = async (meterId: string) =>
    (await sql<{ id: string; command_type: string; status: string; reason: string | null }>`
      SELECT id, command_type, status, reason FROM device_commands WHERE meter_id = CAST(${meterId} AS uuid) AND command_type IN ('relay_on', 'relay_off') ORDER BY created_at, id`.execute(db)).rows;
  const policyOf = async (accountId: string) =>
    (await call({ method: 'GET', path: `/accounts/${accountId}/control-policy`, role: 'viewer' })).body as {
      alert: { state: string; warningsSent: number };
      scheduledDisconnects: { status: string; dueAt: string }[];
    };
  const balanceOf = async (accountId: string) =>
    Number((await sql<{ balance_minor: string }>`SELECT balance_minor FROM accounts WHERE id = CAST(${accountId} AS uuid)`.execute(db)).rows[0]!.balance_minor);
  const arrearsOf = async (accountId: string) =>
    (await call({ method: 'GET', path: `/accounts/${accountId}/arrears`, role: 'viewer' })).body as { arrearsMinor: number; recoveredMinor: number; items: { entryType: string; amountMinor: number; paymentId: string | null }[] };
  const pay = async (a: { id: string; accountNo: string }, amountMinor: number) => {
    const p = await recordPayment(db, { provider: 'mpesa', receipt: `G${randomUUID().slice(0, 9)}`.toUpperCase(), channel: 'c2b', amountMinor, currency: 'KES', phone: '254711000333', reference: a.accountNo, transactedAt: new Date(), raw: {} });
    return { event: { accountId: a.id, paymentId: p.paymentId, receipt: 'x', channel: 'c2b' as const, amountMinor, balanceAfterMinor: p.balanceAfterMinor!, at: new Date() }, payment: p };
  };

  describe('the SMS when credit runs out', () => {
    it('sends an exempt account no "disconnected" SMS, while its alert state records exhausted', async () => {
      const a = await account(null, 0);
      const meter = await relayMeter(a.id);
      expect((await call({ method: 'PUT', path: `/accounts/${a.id}/exemption`, role: 'operator', body: { exempt: true, reason: 'maternity clinic' } })).status).toBe(200);
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' });
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r2' });
      expect(await relayCommands(meter)).toEqual([]);
      expect((await policyOf(a.id)).alert.state).toBe('exhausted');
      expect(await notificationsOf(db, a.id)).toEqual([]);
    });

    it('inside friendly-credit hours tells the customer when supply will be disconnected (site time), once; the scheduled disconnect sends nothing more', async () => {
      // Europe/London: Friday 2027-03-26 18:00 GMT is inside "evenings 17:00–08:00 and weekends"; they end
      // Monday 2027-03-29 08:00 BST (07:00Z), the clocks having gone forward on the Sunday.
      const s = await site('Europe/London');
      const windows = [{ days: 'all', from: '17:00', to: '08:00' }, { days: 'weekends', from: '00:00', to: '00:00' }];
      expect((await call({ method: 'PUT', path: `/sites/${s}/control-policy`, role: 'operator', body: { friendlyCreditWindows: windows } })).status).toBe(200);
      const a = await account(s, 0);
      const meter = await relayMeter(a.id);
      clock = new Date('2027-03-26T18:00:00Z');
      // Two runs at once: one crossing, one SMS.
      await Promise.all([controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' }), controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1b' })]);
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r2' });
      const told = await notificationsOf(db, a.id);
      expect(told.map((n) => [n.template, n.urgent])).toEqual([['credit_exhausted', true]]);
      expect(told[0]!.body).toBe(`Quantify: account ${a.accountNo} is out of credit (balance KES 0.00). Supply will be disconnected on Mon 29 Mar at 08:00 unless you top up.`);
      expect((await policyOf(a.id)).scheduledDisconnects).toEqual([expect.objectContaining({ status: 'scheduled', dueAt: '2027-03-29T07:00:00.000Z' })]);
      clock = new Date('2027-03-29T07:00:00Z');
      expect((await billingJob(deps, { trigger: 'schedule' })).due).toMatchObject({ disconnects: [meter] });
      expect(await relayCommands(meter)).toEqual([expect.objectContaining({ command_type: 'relay_off', reason: 'credit_exhausted' })]);
      expect((await notificationsOf(db, a.id)).map((n) => n.template)).toEqual(['credit_exhausted']);
    });

    it('outside friendly-credit hours still says the supply is being disconnected', async () => {
      const a = await account(null, 0);
      await relayMeter(a.id);
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' });
      expect((await notificationsOf(db, a.id)).map((n) => n.template)).toEqual(['disconnected']);
    });
  });

  describe('debt recovery catch-up', () => {
    it('recovers, exactly once, a payment whose listener failed; a late listener takes nothing more', async () => {
      const a = await account(null, 1_000);
      expect((await call({ method: 'PUT', path: `/accounts/${a.id}/arrears`, role: 'admin', body: { arrearsMinor: 7_500, reason: 'old meter debt' } })).status).toBe(200);
      expect((await call({ method: 'PUT', path: `/accounts/${a.id}/control-policy`, role: 'operator', body: { debtRecoveryPercent: 25 } })).status).toBe(200);
      const { event } = await pay(a, 20_000);
      // The listener fails (a database blip, say): the credit stands, nothing was recovered.
      await notifyCredited({ logger, events: { accountCredited: async () => { throw new Error('listener down'); } } }, event);
      expect(await arrearsOf(a.id)).toMatchObject({ arrearsMinor: 7_500, recoveredMinor: 0 });
      // Within its first minute a payment is left to its listener.
      expect((await billingJob(deps, { trigger: 'schedule' })).recovered).toBeUndefined();
      clock = new Date(Date.now() + 120_000);
      const run = await billingJob(deps, { trigger: 'schedule' });
      expect(run.recovered).toEqual([{ accountId: a.id, paymentId: event.paymentId, recoveredMinor: 5_000 }]);
      expect((await billingJob(deps, { trigger: 'schedule' })).recovered).toBeUndefined();
      await balanceControlEvents(deps).accountCredited(event); // the listener, redelivered late
      const arrears = await arrearsOf(a.id);
      expect(arrears).toMatchObject({ arrearsMinor: 2_500, recoveredMinor: 5_000 });
      expect(arrears.items.map((i) => [i.entryType, i.amountMinor, i.paymentId])).toEqual([['recovery', -5_000, event.paymentId], ['set', 7_500, null]]);
      expect(await balanceOf(a.id)).toBe(1_000 + 20_000 - 5_000);
      // The late listener's payment SMS states the balance after the recovery.
      expect((await notificationsOf(db, a.id)).find((n) => n.template === 'payment_received')!.body).toContain('New balance KES 160.00');
    });

    it('does not reach back: a payment credited before the arrears (or the percentage) were set is not recovered', async () => {
      const a = await account(null, 0);
      await pay(a, 10_000);
      await call({ method: 'PUT', path: `/accounts/${a.id}/arrears`, role: 'admin', body: { arrearsMinor: 5_000, reason: 'old meter debt' } });
      const b = await account(null, 0);
      await call({ method: 'PUT', path: `/accounts/${b.id}/arrears`, role: 'admin', body: { arrearsMinor: 5_000, reason: 'old meter debt' } });
      await pay(b, 10_000);
      await call({ method: 'PUT', path: `/accounts/${a.id}/control-policy`, role: 'operator', body: { debtRecoveryPercent: 50 } });
      await call({ method: 'PUT', path: `/accounts/${b.id}/control-policy`, role: 'operator', body: { debtRecoveryPercent: 50 } });
      clock = new Date(Date.now() + 120_000);
      const run = await billingJob(deps, { trigger: 'schedule' });
      expect((run.recovered ?? []).filter((r) => r.accountId === a.id || r.accountId === b.id)).toEqual([]);
      expect((await arrearsOf(a.id)).arrearsMinor).toBe(5_000);
      expect((await arrearsOf(b.id)).arrearsMinor).toBe(5_000);
    });
  });

  describe('an admin credit is a top-up', () => {
    it('re-arms the warnings and reconnects like a payment, without the payment SMS or debt recovery; a repeat of its key does nothing', async () => {
      const a = await account(null, 0);
      const meter = await relayMeter(a.id);
      await call({ method: 'PUT', path: `/accounts/${a.id}/arrears`, role: 'admin', body: { arrearsMinor: 4_000, reason: 'old meter debt' } });
      await call({ method: 'PUT', path: `/accounts/${a.id}/control-policy`, role: 'operator', body: { debtRecoveryPercent: 50 } });
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' });
      const [off] = await relayCommands(meter);
      // What the dispatcher records once the device confirms it.
      await sql`UPDATE device_commands SET status = 'confirmed' WHERE id = CAST(${off!.id} AS uuid)`.execute(db);
      expect((await policyOf(a.id)).alert.state).toBe('exhausted');

      // A debit changes nothing here (the next billing run looks).
      expect((await call({ method: 'POST', path: `/accounts/${a.id}/adjustments`, role: 'admin', body: { amountMinor: -100, reason: 'meter fee', idempotencyKey: `fee-${randomUUID()}` } })).status).toBe(201);
      expect(await relayCommands(meter)).toHaveLength(1);

      const body = { amountMinor: 5_100, reason: 'goodwill credit', idempotencyKey: `credit-${randomUUID()}` };
      const credit = await call({ method: 'POST', path: `/accounts/${a.id}/adjustments`, role: 'admin', body });
      expect(credit.status).toBe(201);
      const commands = await relayCommands(meter);
      expect(commands.map((c) => [c.command_type, c.reason])).toEqual([['relay_off', 'credit_exhausted'], ['relay_on', 'credit_restored']]);
      expect((await policyOf(a.id)).alert).toEqual({ state: 'ok', warningsSent: 0 });
      expect((await notificationsOf(db, a.id)).map((n) => n.template)).toEqual(['disconnected', 'reconnected']);
      // No debt recovery from an adjustment: the arrears and the credited balance stand.
      expect((await arrearsOf(a.id)).arrearsMinor).toBe(4_000);
      expect(await balanceOf(a.id)).toBe(5_000);

      const again = await call({ method: 'POST', path: `/accounts/${a.id}/adjustments`, role: 'admin', body });
      expect(again.status).toBe(200);
      expect(await relayCommands(meter)).toHaveLength(2);
      expect(await notificationsOf(db, a.id)).toHaveLength(2);
      expect(await balanceOf(a.id)).toBe(5_000);
    });
  });
});
