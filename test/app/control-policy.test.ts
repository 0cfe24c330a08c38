// The balance-control policy through the API handler and the control use cases, on the database driver
// (PGlite, or PostgreSQL when DATABASE_URL is set) and through the RDS Data API (the cloud path): site defaults and account overrides with where each
// value came from (roles, validation, audit); the 7/3/1-day warning ladder with one SMS per rung, re-armed
// only by a top-up; quiet hours holding warnings but not urgent SMS; a disconnect at zero inside friendly-
// credit hours scheduled for the window's end (Europe/London, across the spring-forward), issued by the
// billing run once due, or cancelled by a payment; an exemption; a failed disconnect retried and visible;
// debt recovery taking a share of each payment once. The ledger (and arrears) invariants hold after each.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import { controlAccounts, type ControlDeps } from '#app/billing/control';
import { balanceControlEvents, billingJob } from '#app/billing/job';
import { drainNotifications, updateAlerts } from '#app/notifications/notifications';
import type { Db } from '#store/db';
import { logger } from '#shared/logger';
import { invariantViolations, post } from '#store/ledger';
import { recordPayment } from '#store/payments';
import { expireCommands } from '#store/commands/lifecycle';
import { notificationsOf } from '#store/notifications';
import { estateFixtures } from '../support/estate.ts';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('balance-control policy via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let db: Db;
  let call: (input: EventInput) => Promise<{ status: number; body: unknown }>;
  let clock = new Date();
  const now = () => clock;
  const sent: { to: string; body: string }[] = [];
  const sms = { send: async (to: string, body: string) => (sent.push({ to, body }), { messageId: `test-${sent.length}` }) };
  let deps: ControlDeps;

  beforeAll(async () => {
    testDb = await open();
    db = testDb.db;
    logger.setLogLevel('SILENT');
    deps = { db, logger, now, commandQueue: { enqueue: async () => undefined }, commandExpiryHours: 48 };
    const handler = createApiHandler({ ...deps, healthChecks: {}, ingest: async () => { throw new Error('not used'); } });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterEach(async () => {
    clock = new Date();
    expect(await invariantViolations(db)).toEqual([]);
  });
  afterAll(async () => {
    await testDb.close();
  });

  const { site, account, relayMeter } = estateFixtures(() => ({ call, db }), { name: 'Achieng Otieno', phone: '+254711000222', accountPrefix: 'CP' });

  const adjust = (accountId: string, amountMinor: number) =>
    post(db, { accountId, entryType: 'adjustment', amountMinor, idempotencyKey: `adj:${randomUUID()}`, reason: 'test' });
  const spend = (accountId: string, amountMinor: number) =>
    post(db, { accountId, entryType: 'consumption', amountMinor: -amountMinor, idempotencyKey: `use:${randomUUID()}`, sourceRef: `test:${randomUUID()}` });
  const relayCommands = async (meterId: string) =>
    (await sql<{ id: string; command_type: string; status: string; reason: string | null }>`
      SELECT id, command_type, status, reason FROM device_commands WHERE meter_id = CAST(${meterId} AS uuid) AND command_type IN ('relay_on', 'relay_off') ORDER BY created_at, id`.execute(db)).rows;
  const policyOf = async (accountId: string) => (await call({ method: 'GET', path: `/accounts/${accountId}/control-policy`, role: 'viewer' })).body as {
    effective: Record<string, { value: unknown; source: string }>;
    exemption: { reason: string } | null;
    alert: { state: string; warningsSent: number };
    scheduledDisconnects: { id: string; status: string; dueAt: string; commandId: string | null; closedReason: string | null }[];
  };

  describe('policy API', () => {
    it('keeps site defaults and account overrides, says where each effective value came from, and audits changes', async () => {
      const s = await site('Africa/Nairobi');
      const a = await account(s, 0);
      expect((await call({ method: 'PUT', path: `/sites/${s}/control-policy`, role: 'viewer', body: {} })).status).toBe(403);
      const bad = await call({ method: 'PUT', path: `/sites/${s}/control-policy`, role: 'operator', body: { warningDays: [1, 3, 7] } });
      expect(bad.status).toBe(400);
      expect(JSON.stringify(bad.body)).toContain('warningDays');
      const put = await call({ method: 'PUT', path: `/sites/${s}/control-policy`, role: 'operator', body: { lowBalanceMinor: 5_000, quietHours: null, friendlyCreditWindows: [{ days: 'weekends', from: '00:00', to: '00:00' }] } });
      expect(put.status).toBe(200);
      expect((put.body as { effective: Record<string, unknown> }).effective).toMatchObject({ lowBalanceMinor: { value: 5_000, source: 'site' }, warningDays: { value: [7, 3, 1], source: 'default' } });
      const over = await call({ method: 'PUT', path: `/accounts/${a.id}/control-policy`, role: 'operator', body: { lowBalanceMinor: 20_000, debtRecoveryPercent: 25 } });
      expect(over.status).toBe(200);
      const p = await policyOf(a.id);
      expect(p.effective).toMatchObject({
        lowBalanceMinor: { value: 20_000, source: 'account' },
        debtRecoveryPercent: { value: 25, source: 'account' },
        quietHours: { value: null, source: 'site' },
        friendlyCreditWindows: { value: [{ days: 'weekends', from: '00:00', to: '00:00' }], source: 'site' },
        emergencyCreditMinor: { value: 0, source: 'default' },
      });
      expect((await call({ method: 'GET', path: `/accounts/${randomUUID()}/control-policy`, role: 'viewer' })).status).toBe(404);
      // target_id is text: the ids are cast so the Data API does not send them as uuid.
      const { rows: audited } = await sql<{ action: string }>`
        SELECT action FROM audit_log WHERE target_id IN (CAST(${s} AS text), CAST(${a.id} AS text))`.execute(db);
      expect(audited.map((r) => r.action)).toEqual(expect.arrayContaining(['site.control_policy', 'account.control_policy']));
    });
  });

  describe('the warning ladder', () => {
    it('sends one SMS per rung (7, 3 and 1 days of credit, then exhausted), none repeated until a top-up re-arms it', async () => {
      const a = await account(null, 100_000);
      await call({ method: 'PUT', path: `/accounts/${a.id}/control-policy`, role: 'operator', body: { quietHours: null } });
      await spend(a.id, 14_000); // 1,000 a day over the last 14 days; balance 86,000: 86 days
      const step = async (toBalance: number, rearm = false) => {
        const { rows } = await sql<{ balance_minor: string }>`SELECT balance_minor FROM accounts WHERE id = CAST(${a.id} AS uuid)`.execute(db);
        const delta = toBalance - Number(rows[0]!.balance_minor);
        if (delta) await adjust(a.id, delta);
        await updateAlerts(deps, [a.id], randomUUID(), { rearm });
        return (await notificationsOf(db, a.id)).map((n) => n.template);
      };
      expect(await step(86_000)).toEqual([]);
      expect(await step(7_000)).toEqual(['low_balance']); // 7 days
      expect(await step(5_000)).toHaveLength(1); // still between 7 and 3 days
      expect(await step(3_000)).toEqual(['low_balance', 'low_balance']); // 3 days
      expect(await step(6_000)).toHaveLength(2); // more credit, but no top-up: nothing re-armed
      expect(await step(2_500)).toHaveLength(2);
      expect(await step(1_000)).toEqual(['low_balance', 'low_balance', 'low_balance']); // a day: critical
      expect((await policyOf(a.id)).alert).toEqual({ state: 'critical', warningsSent: 3 });
      expect(await step(0)).toEqual(['low_balance', 'low_balance', 'low_balance', 'disconnected']);
      expect(await step(-100)).toHaveLength(4);
      // A top-up re-arms the ladder; falling again warns again.
      expect(await step(50_000, true)).toHaveLength(4);
      expect((await policyOf(a.id)).alert).toEqual({ state: 'ok', warningsSent: 0 });
      expect(await step(6_000)).toHaveLength(5);
    });

    it('holds a warning during the site quiet hours and sends it when they end; urgent SMS go at night', async () => {
      const s = await site('Africa/Nairobi');
      const a = await account(s, 10_000);
      await spend(a.id, 7_000); // 500 a day; 3,000 left: 6 days
      const today = new Date().toISOString().slice(0, 10);
      const at = (hhmmZ: string, days = 0) => new Date(Date.parse(`${today}T${hhmmZ}:00Z`) + days * 86_400_000);
      clock = at('19:30'); // 22:30 in Nairobi: quiet (default 21:00–07:00)
      await updateAlerts(deps, [a.id], 'night');
      const [warning] = await notificationsOf(db, a.id);
      expect(warning).toMatchObject({ template: 'low_balance', urgent: false, status: 'pending' });
      expect(warning!.nextAttemptAt.toISOString()).toBe(at('04:00', 1).toISOString()); // 07:00 Nairobi
      await adjust(a.id, -3_000); // exhausted: urgent, at once
      await updateAlerts(deps, [a.id], 'night-2');
      await drainNotifications({ ...deps, sms });
      expect((await notificationsOf(db, a.id)).map((n) => [n.template, n.status])).toEqual([['low_balance', 'pending'], ['disconnected', 'sent']]);
      expect(sent.some((m) => m.body.includes(a.accountNo) && m.body.includes('run out of credit'))).toBe(true);
      clock = at('04:00', 1);
      await drainNotifications({ ...deps, sms });
      expect((await notificationsOf(db, a.id)).map((n) => n.status)).toEqual(['sent', 'sent']);

      // One that comes due inside quiet hours (a retry, or queued before the hours began) is held, uncounted.
      const b = await account(s, 10_000);
      await spend(b.id, 7_000);
      clock = at('12:00');
      await updateAlerts(deps, [b.id], 'day');
      clock = at('19:30');
      expect((await drainNotifications({ ...deps, sms })).held).toBeGreaterThanOrEqual(1);
      const [held] = await notificationsOf(db, b.id);
      expect(held).toMatchObject({ status: 'pending', attempts: 0 });
      expect(held!.nextAttemptAt.toISOString()).toBe(at('04:00', 1).toISOString());
    });
  });

  describe('friendly-credit hours', () => {
    // Europe/London: Friday 2027-03-26 18:00 GMT is inside "evenings 17:00–08:00 and weekends"; the period
    // ends Monday 2027-03-29 08:00 BST (07:00Z), the clocks having gone forward on the Sunday.
    const friday = new Date('2027-03-26T18:00:00Z');
    const mondayEnd = '2027-03-29T07:00:00.000Z';
    const windows = [{ days: 'all', from: '17:00', to: '08:00' }, { days: 'weekends', from: '00:00', to: '00:00' }];

    it('schedules the disconnect for the end of the window, once, and the billing run issues it when due', async () => {
      const s = await site('Europe/London');
      await call({ method: 'PUT', path: `/sites/${s}/control-policy`, role: 'operator', body: { friendlyCreditWindows: windows } });
      const a = await account(s, 0);
      const meter = await relayMeter(a.id);
      clock = friday;
      // Two control runs at once (a billing run and a payment listener, say): one scheduled disconnect.
      const both = await Promise.all([controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' }), controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1b' })]);
      expect(both.flatMap((r) => r.scheduled)).toEqual([meter]);
      expect(both.flatMap((r) => r.disconnects)).toEqual([]);
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r2' });
      const p = await policyOf(a.id);
      expect(p.scheduledDisconnects).toEqual([expect.objectContaining({ status: 'scheduled', dueAt: mondayEnd })]);
      expect(await relayCommands(meter)).toEqual([]);
      // Sunday night, still inside: the billing run leaves it.
      clock = new Date('2027-03-29T06:59:00Z');
      expect((await billingJob(deps, { trigger: 'schedule' })).due).toBeUndefined();
      clock = new Date(mondayEnd);
      const run = await billingJob(deps, { trigger: 'schedule' });
      expect(run.due).toMatchObject({ disconnects: [meter] });
      const offs = await relayCommands(meter);
      expect(offs).toEqual([expect.objectContaining({ command_type: 'relay_off', reason: 'credit_exhausted' })]);
      expect((await policyOf(a.id)).scheduledDisconnects).toEqual([expect.objectContaining({ status: 'issued', commandId: offs[0]!.id })]);
      await billingJob(deps, { trigger: 'schedule' });
      expect(await relayCommands(meter)).toHaveLength(1);
    });

    it('cancels the scheduled disconnect when a payment comes first', async () => {
      const s = await site('Europe/London');
      await call({ method: 'PUT', path: `/sites/${s}/control-policy`, role: 'operator', body: { friendlyCreditWindows: windows } });
      const a = await account(s, 0);
      const meter = await relayMeter(a.id);
      clock = friday;
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' });
      const paid = await recordPayment(db, { provider: 'mpesa', receipt: `R${randomUUID().slice(0, 9)}`.toUpperCase(), channel: 'c2b', amountMinor: 10_000, currency: 'KES', phone: '254711000222', reference: a.accountNo, transactedAt: clock, raw: {} });
      await balanceControlEvents(deps).accountCredited({ accountId: a.id, paymentId: paid.paymentId, receipt: 'x', channel: 'c2b', amountMinor: 10_000, balanceAfterMinor: paid.balanceAfterMinor!, at: clock });
      const [cancelled] = (await policyOf(a.id)).scheduledDisconnects;
      expect(cancelled).toMatchObject({ status: 'cancelled' });
      expect(cancelled!.closedReason).toContain('credit restored');
      clock = new Date(mondayEnd);
      await billingJob(deps, { trigger: 'schedule' });
      expect(await relayCommands(meter)).toEqual([]);
    });

    it('disconnects at once outside the window', async () => {
      const s = await site('Europe/London');
      await call({ method: 'PUT', path: `/sites/${s}/control-policy`, role: 'operator', body: { friendlyCreditWindows: windows } });
      const a = await account(s, 0);
      const meter = await relayMeter(a.id);
      clock = new Date('2027-03-30T10:00:00Z'); // Tuesday 11:00 BST
      expect(await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r' })).toMatchObject({ disconnects: [meter], scheduled: [] });
    });
  });

  describe('exemption and retries', () => {
    it('never disconnects an exempt account; lifting the exemption (audited) lets the next run disconnect', async () => {
      const a = await account(null, 0);
      const meter = await relayMeter(a.id);
      expect((await call({ method: 'PUT', path: `/accounts/${a.id}/exemption`, role: 'viewer', body: { exempt: true, reason: 'clinic' } })).status).toBe(403);
      expect((await call({ method: 'PUT', path: `/accounts/${a.id}/exemption`, role: 'operator', body: { exempt: true } })).status).toBe(400);
      const exempt = await call({ method: 'PUT', path: `/accounts/${a.id}/exemption`, role: 'operator', body: { exempt: true, reason: 'maternity clinic' } });
      expect(exempt.status).toBe(200);
      const exemption = (exempt.body as { exemption: { reason: string; by: string } | null }).exemption;
      expect(exemption).toMatchObject({ reason: 'maternity clinic', by: 'user-operator' });
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' });
      expect(await relayCommands(meter)).toEqual([]);
      await call({ method: 'PUT', path: `/accounts/${a.id}/exemption`, role: 'operator', body: { exempt: false, reason: 'clinic moved' } });
      expect((await policyOf(a.id)).exemption).toBeNull();
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r2' });
      expect(await relayCommands(meter)).toHaveLength(1);
      const { rows: audited } = await sql<{ action: string }>`
        SELECT action FROM audit_log WHERE target_id = CAST(${a.id} AS text) AND action LIKE 'account.exempt%' ORDER BY id`.execute(db);
      expect(audited.map((r) => r.action)).toEqual(['account.exempt', 'account.exemption_lifted']);
    });

    it('retries a disconnect that failed or expired, keeping the failed one visible', async () => {
      const a = await account(null, 0);
      const meter = await relayMeter(a.id);
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r1' });
      const [first] = await relayCommands(meter);
      // What the dispatcher records when the network server refuses it for good.
      await sql`UPDATE device_commands SET status = 'failed', error_message = 'network server refused' WHERE id = CAST(${first!.id} AS uuid)`.execute(db);
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r2' });
      // The sweeper expires the retry when its device never took it (COMMAND_EXPIRY_HOURS, 48 here).
      await expireCommands(db, new Date(clock.getTime() + 49 * 3_600_000));
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r3' });
      await controlAccounts(deps, [a.id], { kind: 'billing', ref: 'r4' });
      const history = await call({ method: 'GET', path: `/meters/${meter}/commands`, role: 'viewer' });
      const items = (history.body as { items: { type: string; status: string; reason: string }[] }).items;
      expect(items.map((c) => c.status).sort()).toEqual(['expired', 'failed', 'queued']);
      expect(items.every((c) => c.type === 'relay_off' && c.reason === 'credit_exhausted')).toBe(true);
    });
  });

  describe('debt recovery', () => {
    it('takes the configured share of each payment towards the arrears, once per payment, never more than owed', async () => {
      const a = await account(null, 1_000);
      expect((await call({ method: 'PUT', path: `/accounts/${a.id}/arrears`, role: 'operator', body: { arrearsMinor: 7_500, reason: 'old meter debt' } })).status).toBe(403);
      const set = await call({ method: 'PUT', path: `/accounts/${a.id}/arrears`, role: 'admin', body: { arrearsMinor: 7_500, reason: 'old meter debt' } });
      expect(set.status).toBe(200);
      expect(set.body).toMatchObject({ arrearsMinor: 7_500, items: [{ entryType: 'set', amountMinor: 7_500, reason: 'old meter debt' }] });
      await call({ method: 'PUT', path: `/accounts/${a.id}/control-policy`, role: 'operator', body: { debtRecoveryPercent: 25 } });
      const events = balanceControlEvents(deps);
      const pay = async (amountMinor: number) => {
        const p = await recordPayment(db, { provider: 'mpesa', receipt: `D${randomUUID().slice(0, 9)}`.toUpperCase(), channel: 'c2b', amountMinor, currency: 'KES', phone: '254711000222', reference: a.accountNo, transactedAt: new Date(), raw: {} });
        const event = { accountId: a.id, paymentId: p.paymentId, receipt: 'x', channel: 'c2b' as const, amountMinor, balanceAfterMinor: p.balanceAfterMinor!, at: new Date() };
        await events.accountCredited(event);
        await events.accountCredited(event); // a redelivery: nothing more
        return p;
      };
      await pay(20_000); // 25% = 5,000
      let arrears = (await call({ method: 'GET', path: `/accounts/${a.id}/arrears`, role: 'viewer' })).body as { arrearsMinor: number; recoveredMinor: number; items: { entryType: string; amountMinor: number; paymentId: string | null }[] };
      expect(arrears).toMatchObject({ arrearsMinor: 2_500, recoveredMinor: 5_000 });
      await pay(40_000); // 25% = 10,000, but only 2,500 is owed
      arrears = (await call({ method: 'GET', path: `/accounts/${a.id}/arrears`, role: 'viewer' })).body as typeof arrears;
      expect(arrears).toMatchObject({ arrearsMinor: 0, recoveredMinor: 7_500 });
      expect(arrears.items.map((i) => [i.entryType, i.amountMinor])).toEqual([['recovery', -2_500], ['recovery', -5_000], ['set', 7_500]]);
      const { rows } = await sql<{ balance_minor: string }>`SELECT balance_minor FROM accounts WHERE id = CAST(${a.id} AS uuid)`.execute(db);
      expect(Number(rows[0]!.balance_minor)).toBe(1_000 + 20_000 + 40_000 - 7_500);
      const statement = await call({ method: 'GET', path: `/accounts/${a.id}/statement`, role: 'viewer' });
      expect((statement.body as { items: { entryType: string; amountMinor: number }[] }).items.filter((l) => l.entryType === 'debt_recovery').map((l) => l.amountMinor)).toEqual([-5_000, -2_500]);
      // The payment SMS states the balance after the recovery.
      const bodies = (await notificationsOf(db, a.id)).filter((n) => n.template === 'payment_received').map((n) => n.body);
      expect(bodies[0]).toContain('New balance KES 160.00');
    });
  });
});
