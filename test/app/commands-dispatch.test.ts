// The dispatcher, the sweeper and delivery feedback on a real database (PostgreSQL when DATABASE_URL is
// set, PGlite otherwise), with the real ChirpStack client talking to a loopback stub that accepts,
// answers 5xx, refuses, or never answers; and the IoT data plane publisher against aws-sdk-client-mock
// (there is no local IoT Core). Time is a test clock, so backoff and expiry are exact.
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { mockClient } from 'aws-sdk-client-mock';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChirpStackClient } from '#adapters/chirpstack-client';
import type { DeviceCommand } from '#store/schema';
import { iotDevicePublisher } from '#adapters/device-publisher';
import { dispatch, type DispatchDeps } from '#app/commands/dispatcher';
import { DeviceQueueError } from '#app/commands/errors';
import { applyFeedback } from '#app/commands/feedback';
import type { CommandDeps, DevicePublisher, DeviceQueueApi } from '#app/commands/ports';
import { requestBalanceUpdate, requestRelay } from '#app/commands/requests';
import { claimCommands, recordOutcomes, type DispatchOutcome, type RecordedOutcome } from '#store/commands/dispatch';
import { sweep } from '#app/commands/sweeper';
import { BALANCE_CLOCK_TOLERANCE_MS, type BatchFeedback } from '#domain/commands';
import { createMeter } from '#app/registry/registry';
import type { InboundMessage } from '#app/ingest/inbound';
import { ingestBatch } from '#app/ingest/ingest';
import { logger } from '#shared/logger';
import { applicationId, inbound, randomEui, upTopic } from '../support/chirpstack.ts';
import { openTestDb, type TestDb } from '../support/db.ts';
import { refusingUrl, startChirpStackStub, type ChirpStackStub } from '../commands/chirpstack-stub.ts';

let testDb: TestDb;
let stub: ChirpStackStub;
let clock: Date;
const enqueued: string[] = [];
const actor = { principal: { subject: 'operator-1', roles: ['operator' as const] } };
const policy = { baseMs: 1_000, factor: 2, maxMs: 10_000 };
const iot = mockClient(IoTDataPlaneClient);

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  testDb = await openTestDb();
});
afterAll(async () => {
  await testDb?.close();
});
afterEach(async () => {
  await stub?.close();
  iot.reset();
  enqueued.length = 0;
});

const tick = (ms: number) => (clock = new Date(clock.getTime() + ms));

function commandDeps(): CommandDeps {
  return { db: testDb.db, logger, now: () => clock, commandQueue: { enqueue: async (ids) => void enqueued.push(...ids) } };
}

/** A generous client timeout where the stub answers; the tests of a hanging ChirpStack pass a short one. */
function dispatchDeps(over: Partial<DispatchDeps> = {}, timeoutMs = 5_000): DispatchDeps {
  return { db: testDb.db, logger, now: () => clock, network: new ChirpStackClient({ baseUrl: stub.url, apiKey: 'test-key', timeoutMs }), backoff: policy, ...over };
}

async function uc100Meter(config: Record<string, unknown> = {}) {
  const devEui = randomEui();
  const { meter } = await createMeter(testDb.db, { meterNo: `D${devEui.slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_uc100', devEui, config, lifecycle: 'active' } }, actor, new Date());
  return { meterId: meter.id, devEui };
}

async function relay(meterId: string, action: 'on' | 'off' = 'off') {
  return (await requestRelay(commandDeps(), meterId, { action, reason: 'test', priority: 5 }, actor)).command;
}

const row = (id: string) => testDb.db.selectFrom('device_commands').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

describe('dispatch', () => {
  it('sends a relay command once and stores the queue item id with it', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const { meterId, devEui } = await uc100Meter();
    const command = await relay(meterId);

    const result = await dispatch(dispatchDeps(), [command.id]);

    expect(result.sent).toEqual([command.id]);
    expect(stub.items).toEqual([{ id: expect.any(String) as string, devEui, fPort: 5, confirmed: false, data: b64('010500000000cdca') }]);
    expect(await row(command.id)).toMatchObject({ status: 'sent', delivery_state: 'awaiting_device', network_queue_item_id: stub.items[0]?.id, claim_token: null, sent_at: clock });
  });

  it('sends nothing twice when dispatch runs twice on the same ids, one after the other or at once', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const commands: DeviceCommand[] = [];
    for (let i = 0; i < 4; i++) commands.push(await relay((await uc100Meter()).meterId));
    const ids = commands.map((c) => c.id);

    const [a, b] = await Promise.all([dispatch(dispatchDeps(), ids), dispatch(dispatchDeps(), ids)]);
    const again = await dispatch(dispatchDeps(), ids);

    expect([...a.sent, ...b.sent].sort()).toEqual([...ids].sort());
    expect(again.sent).toEqual([]);
    expect(again.done.sort()).toEqual([...ids].sort());
    expect(stub.enqueueCalls).toBe(4);
  });

  it('retries a 5xx with backoff, then fails with the error kept', async () => {
    clock = new Date();
    stub = await startChirpStackStub('server_error');
    const command = await relay((await uc100Meter()).meterId);
    await testDb.db.updateTable('device_commands').set({ max_retries: 2 }).where('id', '=', command.id).execute();
    const deps = dispatchDeps();

    const first = await dispatch(deps, [command.id]);
    const early = await dispatch(deps, [command.id]);
    const afterFirst = await row(command.id);
    tick(1_000);
    await dispatch(deps, [command.id]);
    const afterSecond = await row(command.id);
    tick(2_000);
    const last = await dispatch(deps, [command.id]);

    expect(first.retrying).toEqual([{ id: command.id, at: new Date(afterFirst.updated_at.getTime() + 1_000) }]);
    expect(early.later.map((l) => l.id)).toEqual([command.id]);
    expect(afterFirst).toMatchObject({ status: 'queued', retry_count: 1, error_message: expect.stringContaining('HTTP 503') as string });
    expect(afterSecond).toMatchObject({ status: 'queued', retry_count: 2 });
    expect(afterSecond.next_attempt_at?.getTime()).toBe(clock.getTime());
    expect(last.failed).toEqual([command.id]);
    expect(await row(command.id)).toMatchObject({ status: 'failed', retry_count: 2, failed_at: clock, error_message: expect.stringMatching(/HTTP 503 .*\(gave up after 3 attempts\)$/) as string });
    expect(stub.enqueueCalls).toBe(3);
  });

  it("retries or fails a send by the device queue port's retryable flag, and retries an error outside the contract", async () => {
    // Prepare: a network server that is not ChirpStack, throwing the port's error (or a plain one).
    clock = new Date();
    class QueueRefused extends DeviceQueueError {
      readonly retryable = false;
    }
    class QueueBusy extends DeviceQueueError {
      readonly retryable = true;
    }
    const failing = (error: Error): DispatchDeps => ({
      db: testDb.db,
      logger,
      now: () => clock,
      backoff: policy,
      network: { enqueue: async () => Promise.reject(error), listQueue: async () => ({ totalCount: 0, items: [] }), flushQueue: async () => undefined },
    });
    const refused = await relay((await uc100Meter()).meterId);
    const busy = await relay((await uc100Meter()).meterId);
    const dropped = await relay((await uc100Meter()).meterId);

    // Act
    const a = await dispatch(failing(new QueueRefused('unknown device')), [refused.id]);
    const b = await dispatch(failing(new QueueBusy('try later')), [busy.id]);
    const c = await dispatch(failing(new Error('socket hang up')), [dropped.id]);

    // Assess
    expect(a.failed).toEqual([refused.id]);
    expect(b.retrying.map((r) => r.id)).toEqual([busy.id]);
    expect(c.retrying.map((r) => r.id)).toEqual([dropped.id]);
    expect(await row(refused.id)).toMatchObject({ status: 'failed', retry_count: 0, error_message: 'unknown device' });
  });

  it('retries a timed-out enqueue and adopts the item it left at ChirpStack instead of enqueueing twice', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept_then_hang');
    const command = await relay((await uc100Meter()).meterId);
    const deps = dispatchDeps({}, 300);

    const first = await dispatch(deps, [command.id]);
    const afterTimeout = await row(command.id);
    stub.mode = 'accept';
    tick(1_000);
    const second = await dispatch(deps, [command.id]);

    expect(first.retrying.map((r) => r.id)).toEqual([command.id]);
    expect(afterTimeout.error_message).toMatch(/no response within 300 ms/);
    expect(second.sent).toEqual([command.id]);
    expect(stub.enqueueCalls).toBe(1);
    expect(stub.listCalls).toBe(1);
    expect((await row(command.id)).network_queue_item_id).toBe(stub.items[0]?.id);
  });

  it('does not adopt the identical item an older command of the same device has just enqueued in the same dispatch', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const { meterId } = await uc100Meter();
    const older = await relay(meterId, 'off');
    const retrying = await relay(meterId, 'off');
    // The retrying command's earlier attempt has an unknown outcome (it never reached ChirpStack).
    await testDb.db.updateTable('device_commands').set({ dispatch_attempts: 1 }).where('id', '=', retrying.id).execute();

    const result = await dispatch(dispatchDeps(), [older.id, retrying.id]);

    expect(result.sent).toEqual([older.id, retrying.id]);
    expect(stub.enqueueCalls).toBe(2);
    expect((await row(older.id)).network_queue_item_id).toBe(stub.items[0]?.id);
    expect((await row(retrying.id)).network_queue_item_id).toBe(stub.items[1]?.id);
  });

  it('retries a refused connection, then fails', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const command = await relay((await uc100Meter()).meterId);
    await testDb.db.updateTable('device_commands').set({ max_retries: 1 }).where('id', '=', command.id).execute();
    const deps = dispatchDeps({ network: new ChirpStackClient({ baseUrl: await refusingUrl(), apiKey: 'k' }) });

    const first = await dispatch(deps, [command.id]);
    tick(1_000);
    const second = await dispatch(deps, [command.id]);

    expect(first.retrying.map((r) => r.id)).toEqual([command.id]);
    expect(second.failed).toEqual([command.id]);
    expect((await row(command.id)).error_message).toMatch(/ECONNREFUSED/);
  });

  it('fails a downlink ChirpStack refuses at once, and one with no ChirpStack configured', async () => {
    clock = new Date();
    stub = await startChirpStackStub('reject');
    const refused = await relay((await uc100Meter()).meterId);
    const unconfigured = await relay((await uc100Meter()).meterId);

    const a = await dispatch(dispatchDeps(), [refused.id]);
    const b = await dispatch(dispatchDeps({ network: undefined }), [unconfigured.id]);

    expect(a.failed).toEqual([refused.id]);
    expect(await row(refused.id)).toMatchObject({ status: 'failed', retry_count: 0, error_message: expect.stringContaining('HTTP 404 Object does not exist') as string });
    expect(b.failed).toEqual([unconfigured.id]);
    expect((await row(unconfigured.id)).error_message).toMatch(/ChirpStack is not configured/);
  });

  it("keeps a device's commands in order: a later one waits while an older one backs off", async () => {
    clock = new Date();
    stub = await startChirpStackStub('server_error');
    const { meterId } = await uc100Meter();
    const off = await relay(meterId, 'off');
    const on = await relay(meterId, 'on');

    const first = await dispatch(dispatchDeps(), [off.id, on.id]);
    const alone = await dispatch(dispatchDeps(), [on.id]);
    stub.mode = 'accept';
    tick(1_000);
    const second = await dispatch(dispatchDeps(), [on.id, off.id]);

    expect(first.retrying.map((r) => r.id)).toEqual([off.id]);
    expect(first.later.map((r) => r.id)).toEqual([on.id]);
    expect(alone.later.map((r) => r.id)).toEqual([on.id]);
    expect(second.sent).toEqual([off.id, on.id]);
    expect(stub.items.map((i) => Buffer.from(i.data, 'base64').toString('hex'))).toEqual(['010500000000cdca', '01050000ff008c3a']);
  });

  it('does not send a scheduled command before its time', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const { meterId } = await uc100Meter();
    const scheduledAt = new Date(clock.getTime() + 3_600_000);
    const { command } = await requestRelay(commandDeps(), meterId, { action: 'on', reason: 'reconnect after the grace period', priority: 5, scheduledAt }, actor);

    const result = await dispatch(dispatchDeps(), [command.id]);

    expect(command.status).toBe('pending');
    expect(enqueued).toEqual([]);
    expect(result.later).toEqual([{ id: command.id, at: scheduledAt }]);
    expect(stub.enqueueCalls).toBe(0);
  });

  it("publishes a balance update to the meter's command topic through the IoT data plane with QoS 1", async () => {
    clock = new Date();
    iot.on(PublishCommand).resolves({});
    const meterNo = `B${randomEui().slice(0, 8)}`;
    const { meter } = await createMeter(testDb.db, { meterNo, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'esp32_meter', meterNo, lifecycle: 'active' } }, actor, new Date());
    const command = await requestBalanceUpdate(commandDeps(), { meterId: meter.id, balance: 5.25, idempotencyKey: `pay-${meterNo}` });

    const result = await dispatch(dispatchDeps({ publisher: iotDevicePublisher(new IoTDataPlaneClient({ region: 'us-east-1' })) }), [command.id]);

    expect(result.sent).toEqual([command.id]);
    const calls = iot.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input).toMatchObject({ topic: `smartmeter/${meterNo}/command/balance`, qos: 1, retain: false });
    const payload = input?.payload;
    expect(payload).toBeInstanceOf(Uint8Array);
    expect(JSON.parse(new TextDecoder().decode(payload instanceof Uint8Array ? payload : undefined))).toEqual({ balance: 5.25, timestamp: clock.getTime() });
    expect(await row(command.id)).toMatchObject({ status: 'sent', delivery_state: 'published' });
  });
});

describe('confirmations that arrive while the command is being dispatched', () => {
  /** Ingestion as the runtime wires it: events stored, then handed to the command feedback. */
  const ingest = (messages: InboundMessage[]) =>
    ingestBatch({ db: testDb.db, logger, now: () => clock, commandExpiryHours: 48, onFeedback: async (f) => void (await applyFeedback({ db: testDb.db, logger, now: () => clock }, f)) }, messages);

  it("confirms a display downlink whose txack was ingested before the dispatcher recorded it as sent", async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const command = await displayCommand();
    const client = new ChirpStackClient({ baseUrl: stub.url, apiKey: 'test-key', timeoutMs: 5_000 });
    // The device's receive window is open: ChirpStack transmits at once and its txack is ingested while
    // the dispatcher is still sending (here: before enqueue even returns). Event shape: the ChirpStack v4
    // docs' TxAckEvent example (test/fixtures/vectors/chirpstack_events.json).
    const network: DeviceQueueApi = {
      listQueue: (devEui) => client.listQueue(devEui),
      flushQueue: (devEui) => client.flushQueue(devEui),
      enqueue: async (devEui, item) => {
        const queueItemId = await client.enqueue(devEui, item);
        await ingest([inbound(upTopic(devEui, 'txack'), { deviceInfo: { applicationId, devEui }, time: new Date(clock.getTime() + 5).toISOString(), queueItemId, downlinkId: 3461958127, fCntDown: 2, gatewayId: '0016c001f153a14c' })]);
        return queueItemId;
      },
    };

    const result = await dispatch(dispatchDeps({ network }), [command.id]);

    expect(result.sent).toEqual([command.id]);
    expect(await row(command.id)).toMatchObject({ status: 'confirmed', delivery_state: 'transmitted', outcome: { via: 'txack' } });
    expect((await actuationOf(command.id)).downlink_confirmed).toBe(true);
  });

  it('confirms a balance update the ESP32 answered before its publish was acknowledged', async () => {
    clock = new Date();
    const esp = await esp32Meter();
    const command = await requestBalanceUpdate(commandDeps(), { meterId: esp.meterId, balance: 7.5, idempotencyKey: `bal-${randomUUID()}` });
    // The meter answers within milliseconds, before the broker's PUBACK reaches the dispatcher.
    const publisher: DevicePublisher = {
      publish: async () => {
        await ingest([inbound(`smartmeter/${esp.meterNo}/balance`, { meterNo: esp.meterNo, balance: 7.5, timestamp: clock.getTime() + 3 })]);
        tick(20);
      },
    };

    await dispatch(dispatchDeps({ publisher }), [command.id]);

    expect(await row(command.id)).toMatchObject({ status: 'confirmed', outcome: { via: 'balance_report', balance: 7.5 } });
  });

  it('leaves a sent command alone when the stored report is for another balance', async () => {
    clock = new Date();
    const esp = await esp32Meter();
    const command = await requestBalanceUpdate(commandDeps(), { meterId: esp.meterId, balance: 7.5, idempotencyKey: `bal-${randomUUID()}` });
    const publisher: DevicePublisher = {
      publish: async () => void (await ingest([inbound(`smartmeter/${esp.meterNo}/balance`, { meterNo: esp.meterNo, balance: 3, timestamp: clock.getTime() + 3 })])),
    };

    await dispatch(dispatchDeps({ publisher }), [command.id]);

    expect((await row(command.id)).status).toBe('sent');
  });
});

describe('recording outcomes', () => {
  async function claimedRelays(count: number) {
    const commands: DeviceCommand[] = [];
    for (let i = 0; i < count; i++) commands.push(await relay((await uc100Meter()).meterId));
    const token = randomUUID();
    await claimCommands(testDb.db, commands.map((c) => c.id), token, clock, new Date(clock.getTime() + 60_000));
    return { token, ids: commands.map((c) => c.id) };
  }
  const sent = (id: string, queueItemId: string, sentAt: Date): DispatchOutcome => ({ id, outcome: 'sent', at: clock.toISOString(), sent_at: sentAt.toISOString(), queue_item_id: queueItemId, delivery_state: 'awaiting_device' });

  it('records the rest of a chunk when a queue item id is already held by another command, and hands that one back', async () => {
    clock = new Date();
    const { token, ids: [contested = '', fine = ''] } = await claimedRelays(2);
    const holder = await relay((await uc100Meter()).meterId);
    const held = randomUUID();
    await testDb.db.updateTable('device_commands').set({ status: 'sent', network_queue_item_id: held }).where('id', '=', holder.id).execute();

    const recorded = await recordOutcomes(testDb.db, token, [sent(contested, held, clock), sent(fine, randomUUID(), clock)]);

    expect(recorded.sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual([{ id: contested, contested: true }, { id: fine, contested: false }].sort((a, b) => (a.id < b.id ? -1 : 1)));
    expect((await row(fine)).status).toBe('sent');
    expect(await row(contested)).toMatchObject({ status: 'queued', network_queue_item_id: null, claim_token: null, next_attempt_at: null, dispatch_attempts: 1, error_message: expect.stringContaining(held) as string });
  });

  it('gives a queue item id two dispatchers record at the same moment to one of them and hands the other back', async () => {
    clock = new Date();
    const a = await claimedRelays(1);
    const b = await claimedRelays(1);
    const item = randomUUID();

    // A's record is written but not committed while B's starts: on PostgreSQL B cannot see A's row, waits
    // at the unique index and fails when A commits, then tries again (PGlite, one connection, runs B after A).
    let rb: Promise<RecordedOutcome[]> | undefined;
    const ra = await testDb.db.transaction().execute(async (trx) => {
      const recorded = await recordOutcomes(trx, a.token, [sent(a.ids[0] ?? '', item, clock)]);
      rb = recordOutcomes(testDb.db, b.token, [sent(b.ids[0] ?? '', item, clock)]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return recorded;
    });

    expect(ra).toEqual([{ id: a.ids[0], contested: false }]);
    expect(await rb).toEqual([{ id: b.ids[0], contested: true }]);
    const holders = await testDb.db.selectFrom('device_commands').select('id').where('network_queue_item_id', '=', item).execute();
    expect(holders).toHaveLength(1);
  });

  it('gives a queue item id sent twice in one chunk to the earlier send and hands the other back', async () => {
    clock = new Date();
    const { token, ids: [first = '', second = ''] } = await claimedRelays(2);
    const item = randomUUID();

    const recorded = await recordOutcomes(testDb.db, token, [sent(second, item, new Date(clock.getTime() + 10)), sent(first, item, clock)]);

    expect(recorded.find((r) => r.id === second)).toEqual({ id: second, contested: true });
    expect(await row(first)).toMatchObject({ status: 'sent', network_queue_item_id: item });
    expect(await row(second)).toMatchObject({ status: 'queued', network_queue_item_id: null });
  });
});

async function displayCommand(options: { confirmed?: boolean; expiresAt?: Date } = {}) {
  const devEui = randomEui();
  const display = await testDb.db.insertInto('devices').values({ kind: 'lorawan', dev_eui: devEui, device_type: 'kuando_busylight', decoder: 'kuando_busylight', capabilities: { display: true }, config: { fPort: 15, displayCodes: { FREE: '0000ff6400' } } }).returning('id').executeTakeFirstOrThrow();
  const space = await testDb.db.insertInto('parking_spaces').values({ code: `S-${devEui}`, name: 'bay', display_device_id: display.id }).returning('id').executeTakeFirstOrThrow();
  const command = await testDb.db
    .insertInto('device_commands')
    .values({ device_id: display.id, device_eui: devEui, command_type: 'display', payload_hex: '0000ff6400', f_port: 15, confirmed: options.confirmed ?? false, idempotency_key: `display:${devEui}`, expires_at: options.expiresAt ?? new Date(clock.getTime() + 3_600_000) })
    .returningAll()
    .executeTakeFirstOrThrow();
  await testDb.db.insertInto('actuations').values({ space_id: space.id, command_id: command.id, trigger_type: 'manual_override', previous_state: 'OCCUPIED', new_state: 'FREE', display_deveui: devEui, display_code: '0000ff6400', fport: 15, confirmed: options.confirmed ?? false }).execute();
  return command;
}

const actuationOf = (commandId: string) => testDb.db.selectFrom('actuations').selectAll().where('command_id', '=', commandId).executeTakeFirstOrThrow();
const feedback = (over: Partial<BatchFeedback>): BatchFeedback => ({ txAcks: [], acks: [], modbusResponses: [], balanceReports: [], ...over });

describe('delivery feedback', () => {
  it("marks a relay command transmitted on txack, then confirms it on the meter's echo and stores the relay state", async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const { meterId, devEui } = await uc100Meter();
    const command = await relay(meterId);
    await dispatch(dispatchDeps(), [command.id]);
    const queueItemId = stub.items[0]?.id ?? '';
    const deviceId = command.device_id;
    const echoAt = new Date(clock.getTime() + 2_000);

    const txack = await applyFeedback({ db: testDb.db, logger, now: () => clock }, feedback({ txAcks: [{ devEui, queueItemId, time: new Date(clock.getTime() + 1_000) }] }));
    const afterTxack = await row(command.id);
    const echo = await applyFeedback({ db: testDb.db, logger, now: () => clock }, feedback({ modbusResponses: [{ deviceId, devEui, meterId, time: echoAt, response: { slaveId: 1, functionCode: 5, frameHex: '010500000000cdca', crcValid: true, coil: { address: 0, on: false } } }] }));
    const again = await applyFeedback({ db: testDb.db, logger, now: () => clock }, feedback({ txAcks: [{ devEui, queueItemId, time: echoAt }] }));

    expect(txack).toEqual({ updated: 1, confirmed: 0, failed: 0 });
    expect(afterTxack).toMatchObject({ status: 'sent', delivery_state: 'transmitted' });
    expect(echo).toEqual({ updated: 1, confirmed: 1, failed: 0 });
    expect(await row(command.id)).toMatchObject({ status: 'confirmed', confirmed_at: echoAt, outcome: { via: 'modbus_echo', frameHex: '010500000000cdca' } });
    expect(again.updated).toBe(0);
    const meter = await testDb.db.selectFrom('meters').selectAll().where('id', '=', meterId).executeTakeFirstOrThrow();
    expect(meter).toMatchObject({ relay_state: 'off', relay_state_at: echoAt, relay_state_source: 'modbus_echo' });
  });

  it('does not confirm a relay command with the echo of a different frame', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const { meterId, devEui } = await uc100Meter();
    const command = await relay(meterId, 'off');
    await dispatch(dispatchDeps(), [command.id]);

    await applyFeedback({ db: testDb.db, logger, now: () => clock }, feedback({ modbusResponses: [{ deviceId: command.device_id, devEui, meterId, time: clock, response: { slaveId: 1, functionCode: 5, frameHex: '01050000ff008c3a', crcValid: true } }] }));

    expect((await row(command.id)).status).toBe('sent');
    expect((await testDb.db.selectFrom('meters').select('relay_state').where('id', '=', meterId).executeTakeFirstOrThrow()).relay_state).toBe('unknown');
  });

  it('confirms an unconfirmed display downlink on txack and fails a confirmed one on NACK, on the actuations trail too', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const plain = await displayCommand();
    const confirmedDownlink = await displayCommand({ confirmed: true });
    await dispatch(dispatchDeps(), [plain.id, confirmedDownlink.id]);
    const [plainItem, confirmedItem] = [stub.items.find((i) => i.devEui === plain.device_eui), stub.items.find((i) => i.devEui === confirmedDownlink.device_eui)];
    const at = new Date(clock.getTime() + 1_500);

    await applyFeedback(
      { db: testDb.db, logger, now: () => clock },
      feedback({ txAcks: [{ devEui: plain.device_eui ?? '', queueItemId: plainItem?.id ?? '', time: at }], acks: [{ devEui: confirmedDownlink.device_eui ?? '', queueItemId: confirmedItem?.id ?? '', acknowledged: false, time: at }] }),
    );

    expect(await row(plain.id)).toMatchObject({ status: 'confirmed', delivery_state: 'transmitted', confirmed_at: at });
    expect(await actuationOf(plain.id)).toMatchObject({ downlink_sent: true, downlink_confirmed: true, confirmed_at: at, downlink_error: null });
    expect((await actuationOf(plain.id)).response_time_ms).toBeGreaterThanOrEqual(0);
    expect(await row(confirmedDownlink.id)).toMatchObject({ status: 'failed', delivery_state: 'nacked', error_message: expect.stringContaining('NACK') as string });
    expect(await actuationOf(confirmedDownlink.id)).toMatchObject({ downlink_sent: true, downlink_confirmed: false, downlink_error: expect.stringContaining('NACK') as string });
  });
});

async function esp32Meter() {
  const meterNo = `E${randomEui().slice(0, 8)}`;
  const { meter } = await createMeter(testDb.db, { meterNo, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'esp32_meter', meterNo, lifecycle: 'active' } }, actor, new Date());
  const device = await testDb.db.selectFrom('devices').select('id').where('meter_no', '=', meterNo).executeTakeFirstOrThrow();
  return { meterId: meter.id, meterNo, deviceId: device.id };
}

/** A publisher that takes `ms` of test time to be acknowledged, as a broker's PUBACK does. */
const slowPublisher = (ms: number): DevicePublisher => ({ publish: async () => void tick(ms) });

async function sentBalanceUpdate(meterId: string, balance: number) {
  const command = await requestBalanceUpdate(commandDeps(), { meterId, balance, idempotencyKey: `bal-${randomUUID()}` });
  await dispatch(dispatchDeps({ publisher: slowPublisher(0) }), [command.id]);
  return command;
}

const balanceReport = (esp: { meterNo: string; deviceId: string; meterId: string }, balance: number, time: Date) =>
  feedback({ balanceReports: [{ meterNo: esp.meterNo, deviceId: esp.deviceId, meterId: esp.meterId, balance, time }] });

describe('balance reports', () => {
  it('confirm the update of the balance reported, not the newest one', async () => {
    clock = new Date();
    const esp = await esp32Meter();
    const five = await sentBalanceUpdate(esp.meterId, 5);
    tick(1_000);
    const seven = await sentBalanceUpdate(esp.meterId, 7);
    tick(1_000);

    const result = await applyFeedback({ db: testDb.db, logger, now: () => clock }, balanceReport(esp, 5, clock));

    expect(result).toEqual({ updated: 1, confirmed: 1, failed: 0 });
    expect(await row(five.id)).toMatchObject({ status: 'confirmed', outcome: { via: 'balance_report', balance: 5 } });
    expect((await row(seven.id)).status).toBe('sent');
  });

  it('confirm nothing when no sent update carried the balance reported', async () => {
    clock = new Date();
    const esp = await esp32Meter();
    const command = await sentBalanceUpdate(esp.meterId, 5);
    tick(1_000);

    const result = await applyFeedback({ db: testDb.db, logger, now: () => clock }, balanceReport(esp, 4.5, clock));

    expect(result.updated).toBe(0);
    expect((await row(command.id)).status).toBe('sent');
  });

  it('confirm nothing when made well before the update was sent', async () => {
    clock = new Date();
    const esp = await esp32Meter();
    const reportedAt = new Date(clock.getTime() - BALANCE_CLOCK_TOLERANCE_MS - 1_000);
    const command = await sentBalanceUpdate(esp.meterId, 5);

    const result = await applyFeedback({ db: testDb.db, logger, now: () => clock }, balanceReport(esp, 5, reportedAt));

    expect(result.updated).toBe(0);
    expect((await row(command.id)).status).toBe('sent');
  });

  it('confirm an update when made while its publish was still being acknowledged', async () => {
    clock = new Date();
    const esp = await esp32Meter();
    const command = await requestBalanceUpdate(commandDeps(), { meterId: esp.meterId, balance: 5, idempotencyKey: `bal-${randomUUID()}` });
    const publishStarted = clock;
    await dispatch(dispatchDeps({ publisher: slowPublisher(200) }), [command.id]);

    const result = await applyFeedback({ db: testDb.db, logger, now: () => clock }, balanceReport(esp, 5, new Date(publishStarted.getTime() + 50)));

    expect(result.confirmed).toBe(1);
    expect(await row(command.id)).toMatchObject({ status: 'confirmed', sent_at: publishStarted });
  });
});

describe('sweeper', () => {
  it('expires commands past expires_at, one awaiting its device included, and notes it on the actuation', async () => {
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const awaiting = await displayCommand({ expiresAt: new Date(clock.getTime() + 60_000) });
    await dispatch(dispatchDeps(), [awaiting.id]);
    const pending = await displayCommand({ expiresAt: new Date(clock.getTime() + 60_000) });
    const fresh = await displayCommand({ expiresAt: new Date(clock.getTime() + 3_600_000) });
    tick(60_000);

    const result = await sweep({ db: testDb.db, logger, commandQueue: commandDeps().commandQueue }, clock);

    expect(result.expired).toBeGreaterThanOrEqual(2);
    expect(await row(awaiting.id)).toMatchObject({ status: 'expired', expired_at: clock, error_message: 'not confirmed before it expired' });
    expect(await row(pending.id)).toMatchObject({ status: 'expired', error_message: 'not sent before it expired' });
    expect((await row(fresh.id)).status).not.toBe('expired');
    expect((await actuationOf(awaiting.id)).downlink_error).toBe('not confirmed before it expired');
  });

  it('re-enqueues a command lost before the queue send, releases a due scheduled one and leaves a future one', async () => {
    clock = new Date();
    await sql`UPDATE device_commands SET status = 'cancelled' WHERE status IN ('pending', 'queued')`.execute(testDb.db);
    const { meterId } = await uc100Meter();
    const lost = await testDb.db
      .insertInto('device_commands')
      .values({ device_id: (await relay(meterId)).device_id, command_type: 'relay_off', payload_hex: '010500000000cdca', f_port: 5, idempotency_key: `lost-${meterId}`, expires_at: new Date(clock.getTime() + 86_400_000) })
      .returningAll()
      .executeTakeFirstOrThrow();
    await testDb.db.updateTable('device_commands').set({ status: 'cancelled' }).where('meter_id', '=', meterId).execute();
    const due = await requestRelay(commandDeps(), (await uc100Meter()).meterId, { action: 'on', reason: 'r', priority: 5, scheduledAt: new Date(clock.getTime() + 60_000) }, actor);
    const future = await requestRelay(commandDeps(), (await uc100Meter()).meterId, { action: 'on', reason: 'r', priority: 5, scheduledAt: new Date(clock.getTime() + 3_600_000) }, actor);
    enqueued.length = 0;
    tick(5 * 60_000);

    const first = await sweep({ db: testDb.db, logger, commandQueue: commandDeps().commandQueue }, clock);
    const second = await sweep({ db: testDb.db, logger, commandQueue: commandDeps().commandQueue }, clock);

    expect(enqueued.sort()).toEqual([lost.id, due.command.id].sort());
    expect(first.requeued).toBe(2);
    expect(second.requeued).toBe(0);
    expect(await row(lost.id)).toMatchObject({ status: 'queued', last_enqueued_at: clock });
    expect((await row(future.command.id)).status).toBe('pending');
  });
});
