// Release on settle: a device's next command goes out as soon as the one before it is settled (sent,
// failed, delivery unknown), not when that one's 120 s lease runs out. The real ChirpStack client against
// the loopback stub, a real database and a test clock that never moves on its own: whatever is sent here
// is sent well before any lease could have expired.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChirpStackClient } from '#adapters/chirpstack-client';
import { dispatch, type DispatchDeps, type DispatchResult } from '#app/commands/dispatcher';
import type { CommandDeps, DeviceQueueApi } from '#app/commands/ports';
import { cancelCommand, requestRelay } from '#app/commands/requests';
import { sweep } from '#app/commands/sweeper';
import { createMeter } from '#app/registry/registry';
import { logger } from '#shared/logger';
import { randomEui } from '../support/chirpstack.ts';
import { openTestDb, type TestDb } from '../support/db.ts';
import { startChirpStackStub, type ChirpStackStub } from './chirpstack-stub.ts';

let testDb: TestDb;
let stub: ChirpStackStub;
let clock: Date;
const actor = { principal: { subject: 'operator-1', roles: ['operator' as const] } };
const LEASE_MS = 120_000;

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  testDb = await openTestDb();
});
afterAll(async () => {
  await testDb?.close();
});
afterEach(async () => {
  await stub?.close();
});

const enqueued: string[] = [];
const commandDeps = (): CommandDeps => ({ db: testDb.db, logger, now: () => clock, commandQueue: { enqueue: async (ids) => void enqueued.push(...ids) } });
const client = () => new ChirpStackClient({ baseUrl: stub.url, apiKey: 'test-key', timeoutMs: 2_000 });
const dispatchDeps = (network: DeviceQueueApi = client()): DispatchDeps => ({ db: testDb.db, logger, now: () => clock, network, leaseMs: LEASE_MS });
const row = (id: string) => testDb.db.selectFrom('device_commands').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const hexOf = (b64: string) => Buffer.from(b64, 'base64').toString('hex');

async function uc100() {
  const devEui = randomEui();
  const { meter } = await createMeter(testDb.db, { meterNo: `R${devEui.slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_uc100', devEui, lifecycle: 'active' } }, actor, new Date());
  return { meterId: meter.id, devEui };
}

const relay = async (meterId: string, action: 'on' | 'off') => (await requestRelay(commandDeps(), meterId, { action, reason: 'test', priority: 5 }, actor)).command;

/** A device queue whose first enqueue runs `during` before it answers (a second request arriving mid-send). */
function interrupting(during: () => Promise<void>): DeviceQueueApi {
  const real = client();
  let first = true;
  return {
    listQueue: (eui) => real.listQueue(eui),
    flushQueue: (eui) => real.flushQueue(eui),
    enqueue: async (eui, item) => {
      const id = await real.enqueue(eui, item);
      if (first) {
        first = false;
        await during();
      }
      return id;
    },
  };
}

describe('release on settle', () => {
  it('sends the second of two commands asked for 100 ms apart as soon as the first is sent, in the same drain', async () => {
    // Prepare: "off" is asked for, and dispatched by another dispatcher, while "on" is being sent.
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const { meterId } = await uc100();
    const on = await relay(meterId, 'on');
    let off: Awaited<ReturnType<typeof relay>> | undefined;
    let second: DispatchResult | undefined;
    const network = interrupting(async () => {
      clock = new Date(clock.getTime() + 100);
      off = await relay(meterId, 'off');
      second = await dispatch(dispatchDeps(), [off.id]);
    });

    // Act
    const first = await dispatch(dispatchDeps(network), [on.id]);

    // Assess: the other dispatcher found "off" behind "on" (due when on's lease would run out) ...
    expect(second?.later.map((l) => l.id)).toEqual([off?.id]);
    // ... and the dispatcher that settled "on" released it at once, the clock not having moved on.
    expect(first.sent).toEqual([on.id, off?.id]);
    expect(first.released).toEqual([off?.id]);
    expect((await row(off?.id ?? '')).sent_at?.getTime()).toBeLessThan((await row(on.id)).sent_at!.getTime() + LEASE_MS);
    expect(stub.items.map((i) => hexOf(i.data))).toEqual(['01050000ff008c3a', '010500000000cdca']);
  });

  it('releases the next command when the one before it fails, too', async () => {
    clock = new Date();
    stub = await startChirpStackStub('reject');
    const { meterId } = await uc100();
    const on = await relay(meterId, 'on');
    let off: Awaited<ReturnType<typeof relay>> | undefined;
    const real = client();
    let first = true;
    const network: DeviceQueueApi = {
      listQueue: (eui) => real.listQueue(eui),
      flushQueue: (eui) => real.flushQueue(eui),
      enqueue: async (eui, item) => {
        if (first) {
          first = false;
          off = await relay(meterId, 'off');
          await dispatch(dispatchDeps(), [off.id]);
          return real.enqueue(eui, item);
        }
        stub.mode = 'accept';
        return real.enqueue(eui, item);
      },
    };

    const result = await dispatch(dispatchDeps(network), [on.id]);

    expect(result.failed).toEqual([on.id]);
    expect(result.released).toEqual([off?.id]);
    expect((await row(off?.id ?? '')).status).toBe('sent');
  });

  it('drains a backlog of 20 commands for one device in order, each sent once', async () => {
    // Prepare: 20 commands for one meter, alternating on and off, each dispatched on its own at once.
    clock = new Date();
    stub = await startChirpStackStub('accept');
    const { meterId } = await uc100();
    const commands = [];
    for (let i = 0; i < 20; i++) {
      commands.push(await relay(meterId, i % 2 ? 'off' : 'on'));
      clock = new Date(clock.getTime() + 10);
    }

    // Act
    const results = await Promise.all(commands.map((c) => dispatch(dispatchDeps(), [c.id])));

    // Assess
    const sent = results.flatMap((r) => r.sent);
    expect([...sent].sort()).toEqual(commands.map((c) => c.id).sort());
    expect(stub.enqueueCalls).toBe(20);
    expect(stub.items.map((i) => hexOf(i.data))).toEqual(commands.map((_, i) => (i % 2 ? '010500000000cdca' : '01050000ff008c3a')));
    const rows = await Promise.all(commands.map((c) => row(c.id)));
    expect(rows.map((r) => r.network_queue_item_id)).toEqual(stub.items.map((i) => i.id));
    expect(rows.every((r) => r.status === 'sent')).toBe(true);
  });

  it('enqueues the next command of a device at once when the one before it is cancelled while backing off', async () => {
    // Prepare: "off" backs off after a 503; "on" waits behind it.
    clock = new Date();
    stub = await startChirpStackStub('server_error');
    const { meterId } = await uc100();
    const off = await relay(meterId, 'off');
    const on = await relay(meterId, 'on');
    await dispatch(dispatchDeps(), [off.id, on.id]);
    enqueued.length = 0;

    // Act
    await cancelCommand(commandDeps(), off.id, 'paid', actor);

    // Assess
    expect(enqueued).toEqual([on.id]);
  });

  it('enqueues the next command of a device at once when the sweeper expires the one before it', async () => {
    clock = new Date();
    stub = await startChirpStackStub('server_error');
    const { meterId } = await uc100();
    const off = await relay(meterId, 'off');
    const on = await relay(meterId, 'on');
    await testDb.db.updateTable('device_commands').set({ expires_at: new Date(clock.getTime() + 500) }).where('id', '=', off.id).execute();
    await dispatch(dispatchDeps(), [off.id, on.id]);
    enqueued.length = 0;
    clock = new Date(clock.getTime() + 1_000);

    const swept = await sweep({ db: testDb.db, logger, commandQueue: commandDeps().commandQueue }, clock);

    expect(swept.released).toBe(1);
    expect(enqueued).toEqual([on.id]);
  });
});
