// Commands honest to the end: an attempt whose outcome is unknown (ChirpStack queued the item, then
// answered 500 or never answered) never leaves the command failed while its downlink sits in ChirpStack's
// queue; the dispatcher lists the device queue and adopts the item (once, enqueueing no second one) or,
// finding none, fails it with the error kept. The real ChirpStack client against the loopback stub, a
// real database (PostgreSQL with DATABASE_URL, PGlite otherwise) and a test clock.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChirpStackClient } from '#adapters/chirpstack-client';
import { dispatch, type DispatchDeps } from '#app/commands/dispatcher';
import type { CommandDeps } from '#app/commands/ports';
import { requestRelay } from '#app/commands/requests';
import { sweep } from '#app/commands/sweeper';
import { createMeter } from '#app/registry/registry';
import { describeCommand } from '#domain/commands';
import { logger } from '#shared/logger';
import { randomEui } from '../support/chirpstack.ts';
import { openTestDb, type TestDb } from '../support/db.ts';
import { startChirpStackStub, type ChirpStackStub } from './chirpstack-stub.ts';

let testDb: TestDb;
let stub: ChirpStackStub;
let clock: Date;
const enqueued: string[] = [];
const actor = { principal: { subject: 'operator-1', roles: ['operator' as const] } };
const policy = { baseMs: 1_000, factor: 2, maxMs: 10_000 };

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  testDb = await openTestDb();
});
afterAll(async () => {
  await testDb?.close();
});
afterEach(async () => {
  await stub?.close();
  enqueued.length = 0;
});

const tick = (ms: number) => (clock = new Date(clock.getTime() + ms));
const commandDeps = (): CommandDeps => ({ db: testDb.db, logger, now: () => clock, commandQueue: { enqueue: async (ids) => void enqueued.push(...ids) } });
const dispatchDeps = (): DispatchDeps => ({ db: testDb.db, logger, now: () => clock, network: new ChirpStackClient({ baseUrl: stub.url, apiKey: 'test-key', timeoutMs: 200 }), backoff: policy });
const sweepNow = () => sweep({ db: testDb.db, logger, commandQueue: commandDeps().commandQueue }, clock);
const row = (id: string) => testDb.db.selectFrom('device_commands').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function relayCommand(maxRetries: number) {
  const devEui = randomEui();
  const { meter } = await createMeter(testDb.db, { meterNo: `U${devEui.slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_uc100', devEui, lifecycle: 'active' } }, actor, new Date());
  const { command } = await requestRelay(commandDeps(), meter.id, { action: 'on', reason: 'paid', priority: 5 }, actor);
  await testDb.db.updateTable('device_commands').set({ max_retries: maxRetries }).where('id', '=', command.id).execute();
  return command;
}

/** Sweeps and dispatches what the sweeper hands over, the way the scheduler and the queue do. */
async function sweepAndDispatch() {
  enqueued.length = 0;
  await sweepNow();
  return dispatch(dispatchDeps(), [...enqueued]);
}

describe('the last attempt of unknown outcome', () => {
  it('adopts the item ChirpStack queued before answering 500 on every attempt, enqueueing no second one', async () => {
    // Prepare
    clock = new Date();
    stub = await startChirpStackStub('accept_then_error');
    const command = await relayCommand(2);
    const statuses: string[] = [];

    // Act: every attempt the dispatcher makes is answered 500 after queueing.
    for (let i = 0; i < 4; i++) {
      await dispatch(dispatchDeps(), [command.id]);
      statuses.push((await row(command.id)).status);
      tick(10_000);
    }

    // Assess
    expect(statuses).not.toContain('failed');
    expect(stub.enqueueCalls).toBe(1);
    expect(await row(command.id)).toMatchObject({ status: 'sent', delivery_state: 'awaiting_device', network_queue_item_id: stub.items[0]?.id });
  });

  it('adopts the item of a single attempt answered 500 by listing the queue at once', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept_then_error');
    const command = await relayCommand(0);

    const result = await dispatch(dispatchDeps(), [command.id]);

    expect(result.sent).toEqual([command.id]);
    expect(stub.listCalls).toBe(1);
    expect(await row(command.id)).toMatchObject({ status: 'sent', delivery_state: 'awaiting_device', network_queue_item_id: stub.items[0]?.id });
  });

  it('keeps a command whose last attempt timed out after queueing sent with delivery unknown, never failed', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept_then_hang');
    const command = await relayCommand(0);

    const result = await dispatch(dispatchDeps(), [command.id]);

    const stored = await row(command.id);
    expect(result.failed).toEqual([]);
    expect(result.unknown.map((u) => u.id)).toEqual([command.id]);
    expect(stored).toMatchObject({ status: 'sent', delivery_state: 'unknown', network_queue_item_id: null, failed_at: null, error_message: expect.stringMatching(/no response within 200 ms/) as string });
    expect(describeCommand({ status: stored.status, deliveryState: stored.delivery_state, commandType: stored.command_type, confirmed: stored.confirmed, scheduledAt: null, nextAttemptAt: stored.next_attempt_at, errorMessage: stored.error_message }, clock)).toMatch(/^delivery unknown: the network server may hold the downlink/);
  });

  it("adopts it exactly once when the sweeper's next run has the dispatcher list the queue", async () => {
    // Prepare: the last attempt timed out after ChirpStack queued the item.
    clock = new Date();
    stub = await startChirpStackStub('accept_then_hang');
    const command = await relayCommand(0);
    await dispatch(dispatchDeps(), [command.id]);
    stub.mode = 'accept';
    tick(2_000);

    // Act
    const resolved = await sweepAndDispatch();
    const again = await dispatch(dispatchDeps(), [command.id]);

    // Assess
    expect(resolved.sent).toContain(command.id);
    expect(again.sent).toEqual([]);
    expect(stub.enqueueCalls).toBe(1);
    expect(await row(command.id)).toMatchObject({ status: 'sent', delivery_state: 'awaiting_device', network_queue_item_id: stub.items[0]?.id, next_attempt_at: null });
  });

  it('stays unknown while the queue cannot be listed, and adopts the item once it can', async () => {
    // Prepare: queued, answered 500, and the listing fails too.
    clock = new Date();
    stub = await startChirpStackStub('accept_then_error');
    stub.listMode = 'server_error';
    const command = await relayCommand(0);

    // Act
    const first = await dispatch(dispatchDeps(), [command.id]);
    tick(2_000);
    const stillUnreadable = await sweepAndDispatch();
    const afterSecond = await row(command.id);
    stub.listMode = 'ok';
    tick(10_000);
    const resolved = await sweepAndDispatch();

    // Assess
    expect(first.unknown.map((u) => u.id)).toEqual([command.id]);
    expect(stillUnreadable.unknown.map((u) => u.id)).toContain(command.id);
    expect(afterSecond).toMatchObject({ status: 'sent', delivery_state: 'unknown', error_message: expect.stringMatching(/^ChirpStack POST \S+: HTTP 500 \{.*queued, then failed to answer"\}$/) as string });
    expect(resolved.sent).toContain(command.id);
    expect(stub.enqueueCalls).toBe(1);
    expect((await row(command.id)).network_queue_item_id).toBe(stub.items[0]?.id);
  });

  it('is retried, then failed with the error kept, when the item never reached ChirpStack', async () => {
    // Prepare: ChirpStack takes every enqueue and never answers, queueing nothing.
    clock = new Date();
    stub = await startChirpStackStub('hang');
    const command = await relayCommand(1);

    // Act
    const first = await dispatch(dispatchDeps(), [command.id]);
    tick(1_000);
    const last = await dispatch(dispatchDeps(), [command.id]);
    const unknown = await row(command.id);
    tick(5_000);
    const resolved = await sweepAndDispatch();

    // Assess
    expect(first.retrying.map((r) => r.id)).toEqual([command.id]);
    expect(last.unknown.map((u) => u.id)).toEqual([command.id]);
    expect(unknown.status).toBe('sent');
    expect(resolved.failed).toContain(command.id);
    expect(stub.enqueueCalls).toBe(2);
    expect(await row(command.id)).toMatchObject({
      status: 'failed',
      failed_at: clock,
      network_queue_item_id: null,
      error_message: expect.stringMatching(/no response within 200 ms.*does not hold it/) as string,
    });
  });

  it('still expires when its device never takes it', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept_then_hang');
    const command = await relayCommand(0);
    await testDb.db.updateTable('device_commands').set({ expires_at: new Date(clock.getTime() + 1_000) }).where('id', '=', command.id).execute();
    await dispatch(dispatchDeps(), [command.id]);
    tick(2_000);

    await sweepNow();

    expect(await row(command.id)).toMatchObject({ status: 'expired', delivery_state: 'unknown' });
  });
});
