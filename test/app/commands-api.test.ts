// The command routes through the same handler the API Lambda runs, on a real database (PostgreSQL when
// DATABASE_URL is set, PGlite otherwise), with a command queue that records what it is given: requests
// that cannot be carried out are refused with a clear 4xx and queue nothing; accepted ones are stored
// with their bytes, audited and enqueued.
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import type { CommandDeps } from '#app/commands/ports';
import { requestBalanceUpdate, requestRelay } from '#app/commands/requests';
import { createMeter } from '#app/registry/registry';
import { logger } from '#shared/logger';
import { randomEui } from '../support/chirpstack.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';
import { openTestDb, type TestDb } from '../support/db.ts';

let testDb: TestDb;
let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;
const enqueued: string[] = [];

beforeAll(async () => {
  testDb = await openTestDb();
  logger.setLogLevel('SILENT');
  const handler = createApiHandler({
    db: testDb.db,
    logger,
    now: () => new Date(),
    healthChecks: {},
    ingest: async () => {
      throw new Error('not used');
    },
    commandQueue: { enqueue: async (ids) => void enqueued.push(...ids) },
    commandExpiryHours: 2,
  });
  call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
});
afterAll(async () => {
  await testDb.close();
});
beforeEach(() => {
  enqueued.length = 0;
});

async function meterWith(device?: Record<string, unknown>): Promise<string> {
  const eui = randomEui();
  const res = await call({ method: 'POST', path: '/meters', body: { meterNo: `A${eui.slice(0, 10)}`, meterType: 'electricity', ...(device ? { device: { devEui: eui, ...device } } : {}) } });
  expect(res.status).toBe(201);
  return String(res.body.id);
}

const commandCount = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM device_commands`.execute(testDb.db)).rows[0]?.n);

describe('POST /meters/{id}/relay', () => {
  it('stores the relay command with its Modbus frame, audits and enqueues it, and answers 202', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });

    const res = await call({ method: 'POST', path: `/meters/${meterId}/relay`, role: 'operator', body: { action: 'on', reason: 'payment received' } });

    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/commands/${String(res.body.id)}`);
    expect(res.body).toMatchObject({ type: 'relay_on', status: 'queued', payloadHex: '01050000ff008c3a', fPort: 5, confirmed: false, meterId, reason: 'payment received', requestedBy: 'user-operator', retryCount: 0, maxRetries: 3 });
    expect(Date.parse(String(res.body.expiresAt)) - Date.parse(String(res.body.createdAt))).toBeCloseTo(2 * 3_600_000, -4);
    expect(enqueued).toEqual([res.body.id]);
    const audit = await testDb.db.selectFrom('audit_log').selectAll().where('action', '=', 'meter.relay').where('target_id', '=', meterId).executeTakeFirstOrThrow();
    expect(audit).toMatchObject({ actor: 'user-operator', details: { commandId: res.body.id, action: 'on', reason: 'payment received', payloadHex: '01050000ff008c3a', fPort: 5 } });
  });

  it('builds the frame a meter variant is configured for (FC16 to holding register 0xFD00)', async () => {
    const relay = { method: 'register', slaveId: 1, register: 0xfd00, onValues: [0xff00], offValues: [0] };
    const meterId = await meterWith({ deviceType: 'milesight_uc100', config: { relay } });

    const res = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'off', reason: 'disconnect' } });

    // eastron_sdm.json: "Open relay (write multiple registers 0xFD00 = 00 00)" (support.cthings.io).
    expect(res.body).toMatchObject({ status: 'queued', payloadHex: '0110fd0000010200008a9f' });
  });

  it('refuses an unknown meter, a meter without a device and a device without a relay, queueing nothing', async () => {
    const before = await commandCount();
    const noDevice = await meterWith();
    const noRelay = await meterWith({ deviceType: 'milesight_em300_di' });

    const unknown = await call({ method: 'POST', path: '/meters/00000000-0000-4000-8000-000000000000/relay', body: { action: 'off', reason: 'r' } });
    const bare = await call({ method: 'POST', path: `/meters/${noDevice}/relay`, body: { action: 'off', reason: 'r' } });
    const pulse = await call({ method: 'POST', path: `/meters/${noRelay}/relay`, body: { action: 'off', reason: 'r' } });

    expect(unknown).toMatchObject({ status: 404, body: { title: 'Not found', detail: 'meter 00000000-0000-4000-8000-000000000000 does not exist' } });
    expect(bare).toMatchObject({ status: 409, body: { detail: expect.stringContaining('has no device assigned') as string } });
    expect(pulse).toMatchObject({ status: 409, body: { detail: expect.stringContaining('milesight_em300_di') as string } });
    expect(String(pulse.body.detail)).toMatch(/has no relay$/);
    expect(await commandCount()).toBe(before);
    expect(enqueued).toEqual([]);
    const rejected = await testDb.db.selectFrom('audit_log').selectAll().where('action', '=', 'meter.relay.rejected').where('target_id', '=', noRelay).execute();
    expect(rejected).toHaveLength(1);
  });

  it('refuses a bad action or a missing reason with 400, and a viewer with 403', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });
    const before = await commandCount();

    const badAction = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'toggle', reason: 'r' } });
    const noReason = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'off' } });
    const viewer = await call({ method: 'POST', path: `/meters/${meterId}/relay`, role: 'viewer', body: { action: 'off', reason: 'r' } });

    expect(badAction.status).toBe(400);
    expect(badAction.body.errors).toEqual([expect.objectContaining({ path: 'body.action' })]);
    expect(noReason.status).toBe(400);
    expect(viewer.status).toBe(403);
    expect(await commandCount()).toBe(before);
    expect(enqueued).toEqual([]);
  });

  it('holds a scheduled command until its time instead of enqueueing it', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });
    const scheduledAt = new Date(Date.now() + 3_600_000).toISOString();

    const res = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'on', reason: 'grace period ends', scheduledAt } });

    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pending', scheduledAt, statusText: `scheduled for ${scheduledAt}` });
    expect(enqueued).toEqual([]);
  });

  it('refuses a scheduledAt near the largest JavaScript date with 400 naming the field, queueing nothing', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });
    const before = await commandCount();

    // 8.64e15 ms is the largest time a Date holds (ECMA-262, "Time Values and Time Range"): adding the expiry overflows it.
    const res = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'on', reason: 'r', scheduledAt: new Date(8.64e15).toISOString() } });

    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'body.scheduledAt', message: 'must be at most a year ahead' }]);
    expect(await commandCount()).toBe(before);
  });

  it('refuses a scheduledAt more than a minute in the past with 400 naming the field', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });

    const res = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'on', reason: 'r', scheduledAt: new Date(Date.now() - 5 * 60_000).toISOString() } });

    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'body.scheduledAt', message: 'must not be more than a minute in the past' }]);
  });

  it('returns the same command for a repeated idempotency key', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });
    const body = { action: 'off', reason: 'r', idempotencyKey: `portal-${meterId}` };

    const first = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body });
    const second = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body });
    const other = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { ...body, action: 'on' } });

    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(other.status).toBe(409);
    const audits = await testDb.db.selectFrom('audit_log').select('details').where('action', '=', 'meter.relay').where('target_id', '=', meterId).orderBy('id').execute();
    expect(audits.map((a) => a.details)).toEqual([expect.not.objectContaining({ repeated: true }), expect.objectContaining({ commandId: first.body.id, repeated: true })]);
  });
});

// The HTTP edge lowercases path ids, but other callers (billing, a future route) may not: the requests
// themselves must find a meter named by its uuid in capitals, as PostgreSQL itself does.
describe('meter ids in any letter case', () => {
  const deps = (): CommandDeps => ({ db: testDb.db, logger, now: () => new Date(), commandQueue: { enqueue: async (ids) => void enqueued.push(...ids) } });
  const actor = { principal: { subject: 'operator-1', roles: ['operator' as const] } };

  it('switches the relay of a meter named by its uuid in capitals', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });

    const { command } = await requestRelay(deps(), meterId.toUpperCase(), { action: 'off', reason: 'arrears', priority: 5 }, actor);

    expect(command).toMatchObject({ meter_id: meterId, status: 'queued', payload_hex: '010500000000cdca' });
  });

  it('queues a balance update for a meter named by its uuid in capitals', async () => {
    const meterNo = `C${randomEui().slice(0, 8)}`;
    const { meter } = await createMeter(testDb.db, { meterNo, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'esp32_meter', meterNo, lifecycle: 'active' } }, actor, new Date());

    const command = await requestBalanceUpdate(deps(), { meterId: meter.id.toUpperCase(), balance: 12, idempotencyKey: `case-${meterNo}` });

    expect(command).toMatchObject({ meter_id: meter.id, command_type: 'balance_update', status: 'queued' });
  });
});

describe('POST /commands/bulk', () => {
  it('queues one command per meter', async () => {
    const meters = [await meterWith({ deviceType: 'milesight_uc100' }), await meterWith({ deviceType: 'milesight_uc100' })];

    const res = await call({ method: 'POST', path: '/commands/bulk', body: { meterIds: meters, action: 'off', reason: 'estate-wide maintenance' } });

    expect(res.status).toBe(202);
    const items = res.body.items as { meterId: string; status: string; payloadHex: string }[];
    expect(items.map((i) => i.meterId)).toEqual(meters);
    expect(items.every((i) => i.status === 'queued' && i.payloadHex === '010500000000cdca')).toBe(true);
    expect(enqueued).toHaveLength(2);
  });

  it('refuses a scheduledAt more than a year ahead with 400 naming the field', async () => {
    const meters = [await meterWith({ deviceType: 'milesight_uc100' })];

    const res = await call({ method: 'POST', path: '/commands/bulk', body: { meterIds: meters, action: 'off', reason: 'r', scheduledAt: '+275760-09-13T00:00:00.000Z' } });

    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'body.scheduledAt', message: 'must be at most a year ahead' }]);
  });

  it('queues nothing when any meter cannot take the command, and names each one', async () => {
    const good = await meterWith({ deviceType: 'milesight_uc100' });
    const noRelay = await meterWith({ deviceType: 'qalcosonic_w1' });
    const before = await commandCount();

    const res = await call({ method: 'POST', path: '/commands/bulk', body: { meterIds: [good, noRelay, '00000000-0000-4000-8000-000000000001'], action: 'off', reason: 'r' } });

    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([
      { path: 'body.meterIds.1', message: expect.stringContaining('has no relay') as string },
      { path: 'body.meterIds.2', message: 'meter 00000000-0000-4000-8000-000000000001 does not exist' },
    ]);
    expect(await commandCount()).toBe(before);
    expect(enqueued).toEqual([]);
  });
});

describe('history, one command, cancel', () => {
  it('lists a meter\'s commands newest first with their lifecycle timestamps', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });
    const off = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'off', reason: 'r' } });
    const on = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'on', reason: 'r' } });

    const history = await call({ method: 'GET', path: `/meters/${meterId}/commands`, role: 'viewer' });
    const one = await call({ method: 'GET', path: `/commands/${String(off.body.id)}`, role: 'viewer' });
    const unknownMeter = await call({ method: 'GET', path: '/meters/00000000-0000-4000-8000-000000000002/commands' });

    expect((history.body.items as { id: string }[]).map((c) => c.id)).toEqual([on.body.id, off.body.id]);
    expect(one.body).toMatchObject({ id: off.body.id, type: 'relay_off', status: 'queued', createdAt: expect.any(String) as string, queuedAt: expect.any(String) as string, sentAt: null, transmittedAt: null, confirmedAt: null });
    expect(unknownMeter.status).toBe(404);
  });

  it('cancels a queued command, audited, but not one that was sent, is being sent or does not exist', async () => {
    const meterId = await meterWith({ deviceType: 'milesight_uc100' });
    const queued = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'off', reason: 'r' } });
    const sent = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'on', reason: 'r' } });
    const busy = await call({ method: 'POST', path: `/meters/${meterId}/relay`, body: { action: 'on', reason: 'r' } });
    await testDb.db.updateTable('device_commands').set({ status: 'sent', sent_at: new Date() }).where('id', '=', String(sent.body.id)).execute();
    await testDb.db.updateTable('device_commands').set({ claim_token: '11111111-1111-4111-8111-111111111111', claimed_until: new Date(Date.now() + 60_000) }).where('id', '=', String(busy.body.id)).execute();

    const cancelled = await call({ method: 'POST', path: `/commands/${String(queued.body.id)}/cancel`, body: { reason: 'paid in the meantime' } });
    const twice = await call({ method: 'POST', path: `/commands/${String(queued.body.id)}/cancel`, body: {} });
    const tooLate = await call({ method: 'POST', path: `/commands/${String(sent.body.id)}/cancel`, body: {} });
    const inFlight = await call({ method: 'POST', path: `/commands/${String(busy.body.id)}/cancel`, body: {} });
    const unknown = await call({ method: 'POST', path: '/commands/00000000-0000-4000-8000-000000000003/cancel', body: {} });
    const viewer = await call({ method: 'POST', path: `/commands/${String(busy.body.id)}/cancel`, role: 'viewer', body: {} });

    expect(cancelled).toMatchObject({ status: 200, body: { status: 'cancelled', outcome: { via: 'cancel', reason: 'paid in the meantime' } } });
    expect(twice).toMatchObject({ status: 409, body: { detail: expect.stringContaining('is cancelled') as string } });
    expect(tooLate).toMatchObject({ status: 409, body: { detail: expect.stringContaining('only pending or queued') as string } });
    expect(inFlight).toMatchObject({ status: 409, body: { detail: expect.stringContaining('being sent right now') as string } });
    expect(unknown.status).toBe(404);
    expect(viewer.status).toBe(403);
    const audit = await testDb.db.selectFrom('audit_log').selectAll().where('action', '=', 'command.cancel').where('target_id', '=', String(queued.body.id)).execute();
    expect(audit).toHaveLength(1);
  });
});
