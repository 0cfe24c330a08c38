// Command scenarios: UC100 relay commands (one per meter, so ChirpStack's per-device counts are the
// command's) while the ChirpStack front fails enqueues before or after accepting them, or while a cancel
// races the dispatch. Commands get max_retries 0 in the run's schema, so the faulted attempt is the last.
import mqtt from 'mqtt';
import { upEvent, upTopic } from '../../support/chirpstack.ts';
import { sleep, type EnqueueFault } from '../infra.ts';
import { checkCommands } from '../invariants.ts';
import { api, type RunContext, type Scenario } from './kit.ts';

interface Made {
  id: string;
  devEui: string;
  meterId: string;
  cancelAnswered?: boolean;
}

async function meters(ctx: RunContext, count: number) {
  const call = await api(ctx);
  // The last attempt is the first: what happens when the final retry's outcome is unknown, within seconds.
  await ctx.db.query('ALTER TABLE device_commands ALTER COLUMN max_retries SET DEFAULT 0');
  const made: { devEui: string; meterId: string }[] = [];
  for (let i = 0; i < count; i++) {
    const devEui = ctx.rng.hex(8);
    const r = await call<{ id: string }>('POST', '/meters', { meterNo: `CR${devEui.slice(0, 12)}`, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });
    if (r.status !== 201) throw new Error(`registering ${devEui}: ${r.status} ${JSON.stringify(r.body)}`);
    made.push({ devEui, meterId: r.body.id });
  }
  return { call, made };
}

/** Each device uplinks (`rounds` times, apart) so ChirpStack's Class A queue releases what it holds; wait for echoes. */
async function openWindows(ctx: RunContext, devEuis: string[], rounds = 2): Promise<void> {
  const device = await mqtt.connectAsync(ctx.broker.url, { clientId: `chaos-dev-${ctx.tag}`, reconnectPeriod: 300 });
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const devEui of devEuis) {
        await device.publishAsync(upTopic(devEui), JSON.stringify(upEvent({ devEui, fPort: 85, hex: 'ff0bff', fCnt: 100 + round, deduplicationId: ctx.rng.uuid() })), { qos: 1 });
      }
      await sleep(2_500);
    }
  } finally {
    await device.endAsync();
  }
}

/** Until no command is pending or queued (or 20 s: a hung enqueue takes the client's 5 s timeout). */
async function settled(ctx: RunContext, ids: string[]): Promise<void> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const open = await ctx.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM device_commands WHERE id = ANY($1::uuid[]) AND status IN ('pending','queued') AND (next_attempt_at IS NULL OR next_attempt_at < now() + interval '5 seconds')`, [ids]);
    if (Number(open[0]?.n ?? 0) === 0) return;
    await sleep(250);
  }
}

const chirpstackFaults: Scenario = {
  name: 'chirpstack-faults',
  about: 'ChirpStack answers enqueues with 500/429 before or after accepting them, or hangs after accepting',
  run: async (ctx) => {
    const { call, made } = await meters(ctx, ctx.quick ? 4 : ctx.rng.int(5, 8));
    const faults: EnqueueFault[] = [{ kind: 'ok' }, { kind: 'status-before', status: 500 }, { kind: 'status-after', status: 500 }, { kind: 'status-after', status: 429 }, { kind: 'hang-after' }];
    const commands: Made[] = [];
    const chosen: string[] = [];
    for (const m of made) {
      const fault = ctx.rng.pick(faults);
      chosen.push(fault.kind === 'status-before' || fault.kind === 'status-after' ? `${fault.kind}:${fault.status}` : fault.kind);
      ctx.chirpstack.faultNext(m.devEui, fault);
      const r = await call<{ id: string }>('POST', `/meters/${m.meterId}/relay`, { action: ctx.rng.pick(['on', 'off']), reason: 'chaos' });
      if (r.status !== 202) throw new Error(`relay request: ${r.status} ${JSON.stringify(r.body)}`);
      commands.push({ id: r.body.id, devEui: m.devEui, meterId: m.meterId });
    }
    ctx.note(`faults: ${chosen.join(', ')}`);
    await settled(ctx, commands.map((c) => c.id));
    await openWindows(ctx, made.map((m) => m.devEui));
    return { commands: await checkCommands(ctx.db, ctx.chirpstack, commands) };
  },
};

const cancelRace: Scenario = {
  name: 'cancel-race',
  about: 'cancel a relay command 0-60 ms after requesting it, while ChirpStack answers in 0-80 ms',
  run: async (ctx) => {
    const { call, made } = await meters(ctx, ctx.quick ? 4 : ctx.rng.int(5, 8));
    const commands: Made[] = [];
    let answered = 0;
    await Promise.all(
      made.map(async (m, i) => {
        await sleep(i * 50);
        ctx.chirpstack.faultNext(m.devEui, { kind: 'ok', delayMs: ctx.rng.int(0, 80) });
        const cancelAfter = ctx.rng.int(0, 60);
        const r = await call<{ id: string }>('POST', `/meters/${m.meterId}/relay`, { action: 'off', reason: 'chaos' });
        if (r.status !== 202) throw new Error(`relay request: ${r.status} ${JSON.stringify(r.body)}`);
        await sleep(cancelAfter);
        const c = await call<{ status?: string }>('POST', `/commands/${r.body.id}/cancel`, { reason: 'chaos race' });
        const cancelAnswered = c.status === 200 && c.body.status === 'cancelled';
        if (cancelAnswered) answered++;
        commands.push({ id: r.body.id, devEui: m.devEui, meterId: m.meterId, cancelAnswered });
      }),
    );
    ctx.note(`${answered} of ${commands.length} cancels answered "cancelled"`);
    await settled(ctx, commands.map((c) => c.id));
    await openWindows(ctx, made.map((m) => m.devEui));
    return { commands: await checkCommands(ctx.db, ctx.chirpstack, commands) };
  },
};

const sequence: Scenario = {
  name: 'command-sequence',
  about: "2-3 relay commands per meter 50-150 ms apart, ChirpStack slow on the first: each goes out once, the next once the previous is settled",
  run: async (ctx) => {
    const { call, made } = await meters(ctx, ctx.quick ? 2 : ctx.rng.int(2, 4));
    const ids: string[] = [];
    const perDevice = new Map<string, number>();
    for (const m of made) {
      const n = ctx.rng.int(2, 3);
      perDevice.set(m.devEui, n);
      // A slow ChirpStack for the first: the next command arrives while the first is being dispatched.
      ctx.chirpstack.faultNext(m.devEui, { kind: 'ok', delayMs: ctx.rng.int(200, 600) });
      for (let i = 0; i < n; i++) {
        const r = await call<{ id: string }>('POST', `/meters/${m.meterId}/relay`, { action: i % 2 ? 'on' : 'off', reason: 'chaos' });
        if (r.status !== 202) throw new Error(`relay request: ${r.status} ${JSON.stringify(r.body)}`);
        ids.push(r.body.id);
        await sleep(ctx.rng.int(50, 150));
      }
    }
    // One uplink releases one downlink: as many rounds as commands, and one more.
    await openWindows(ctx, made.map((m) => m.devEui), 4);
    let doubled = 0;
    let transmitted = 0;
    let enqueued = 0;
    for (const m of made) {
      const c = ctx.chirpstack.perDevice(m.devEui);
      transmitted += c.transmitted;
      enqueued += c.enqueued;
      if ((c.enqueued > perDevice.get(m.devEui)! && c.flushes === 0) || c.transmitted > perDevice.get(m.devEui)!) doubled++;
    }
    const rows = await ctx.db.query<{ status: string; held: boolean }>(
      `SELECT c.status,
              c.status IN ('pending','queued') AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= now())
              AND NOT EXISTS (SELECT 1 FROM device_commands p WHERE p.device_id = c.device_id AND p.created_at < c.created_at
                              AND (p.status IN ('pending','queued')
                                   OR greatest(p.sent_at, p.confirmed_at, p.failed_at, p.cancelled_at, p.expired_at) > now() - interval '5 seconds')) AS held
         FROM device_commands c WHERE c.id = ANY($1::uuid[])`,
      [ids],
    );
    const count = (status: string) => rows.filter((r) => r.status === status).length;
    const held = rows.filter((r) => r.held).length;
    ctx.note(`${held} command(s) still queued behind a predecessor settled over 5 s ago`);
    for (let i = 0; i < held; i++) ctx.flag('commands.heldBehindSettled');
    return {
      commands: {
        requested: ids.length,
        enqueued,
        transmitted,
        confirmed: count('confirmed'),
        failed: count('failed'),
        cancelled: count('cancelled'),
        open: rows.filter((r) => ['pending', 'queued', 'sent'].includes(r.status)).length,
        doubled,
        failedButDelivered: 0,
        cancelledButDelivered: 0,
        deliveredNotConfirmed: 0,
      },
    };
  },
};

export const commandScenarios: Scenario[] = [chirpstackFaults, cancelRace, sequence];
