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

/** Each device uplinks (twice, apart) so ChirpStack's Class A queue releases what it holds; wait for echoes. */
async function openWindows(ctx: RunContext, devEuis: string[]): Promise<void> {
  const device = await mqtt.connectAsync(ctx.broker.url, { clientId: `chaos-dev-${ctx.tag}`, reconnectPeriod: 300 });
  try {
    for (const round of [1, 2]) {
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

export const commandScenarios: Scenario[] = [chirpstackFaults, cancelRace];
