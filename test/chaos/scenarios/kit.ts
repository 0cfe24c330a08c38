// What a scenario is given and returns, and the shared steps: registering meters through the HTTP API,
// sending a traffic plan while faults run, and waiting until ingest is quiet.
import type { Rng } from '../prng.ts';
import { sleep, type Broker, type ChirpStack, type Database, type PlatformProcess } from '../infra.ts';
import { checkReadings, storedCount, unaccountedPoison, type CommandTally, type PaymentTally, type ReadingTally } from '../invariants.ts';
import { plan, Publisher, type Devices, type TrafficShape } from '../traffic.ts';

export interface RunContext {
  rng: Rng;
  quick: boolean;
  broker: Broker;
  db: Database;
  chirpstack: ChirpStack;
  platform: PlatformProcess;
  /** The platform's DARAJA_CALLBACK_TOKEN: Daraja's callbacks go to /integrations/daraja/{token}/…. */
  callbackToken: string;
  /** Unique per run (client ids, names). */
  tag: string;
  /** A line for the run's notes (what the faults did). */
  note(text: string): void;
  /** An invariant a fault step checked itself (e.g. health during a partition) was broken. */
  flag(violation: string): void;
}

export interface Outcome {
  /** Invariants checked during the run (not from the database afterwards), broken ones. */
  flags?: string[];
  readings?: ReadingTally;
  commands?: CommandTally;
  payments?: PaymentTally;
}

export interface Scenario {
  name: string;
  /** One line: the fault it injects. */
  about: string;
  run(ctx: RunContext): Promise<Outcome>;
}

export type ApiCall = <T>(method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }>;

export async function api(ctx: RunContext): Promise<ApiCall> {
  const token = await ctx.platform.token('admin');
  return async <T>(method: string, path: string, body?: unknown) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(`${ctx.platform.httpUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
      } catch (error) {
        if (attempt >= 20) throw error;
        await sleep(500);
      }
    }
  };
}

export async function register(ctx: RunContext, devices: Devices): Promise<void> {
  const call = await api(ctx);
  for (const d of devices.em300) {
    const r = await call('POST', '/meters', { meterNo: d.meterNo, meterType: 'electricity', device: { deviceType: 'milesight_em300_di', devEui: d.devEui } });
    if (r.status !== 201) throw new Error(`registering ${d.devEui}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (const d of devices.esp32) {
    const r = await call('POST', '/meters', { meterNo: d.meterNo, meterType: 'electricity', device: { deviceType: 'esp32_meter', meterNo: d.meterNo } });
    if (r.status !== 201) throw new Error(`registering ${d.meterNo}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

/** A traffic shape sized for the run (`--quick` smaller). */
export function shapeFor(ctx: RunContext, overrides: Partial<TrafficShape>): TrafficShape {
  const { rng, quick } = ctx;
  const em300Devices = quick ? rng.int(2, 3) : rng.int(3, 6);
  const esp32Meters = quick ? 1 : rng.int(1, 3);
  // Sending lasts long enough that a fault and a platform restart (a few seconds) fall inside it.
  const rate = quick ? rng.int(40, 80) : rng.int(60, 200);
  const seconds = quick ? rng.int(6, 8) : rng.int(10, 16);
  return {
    em300Devices,
    esp32Meters,
    perDevice: Math.max(10, Math.round((rate * seconds) / (em300Devices + esp32Meters))),
    duplicates: 0.1,
    reorderNear: 0,
    reorderFar: 0,
    resets: 0,
    wraps: false,
    farFuture: false,
    rate,
    ...overrides,
  };
}

/**
 * Register the devices, publish the plan while `faults` runs (given the sending time in ms), wait for the
 * faults and the PUBACKs, wait until ingest is quiet, check the reading invariants.
 */
export async function readingsRun(ctx: RunContext, shape: TrafficShape, faults: (sendingMs: number) => Promise<void>): Promise<Outcome> {
  const traffic = plan(ctx.rng.fork('traffic'), shape);
  await register(ctx, traffic.devices);
  const publisher = await Publisher.connect(ctx.broker.url, `chaos-pub-${ctx.tag}`);
  try {
    const sendingMs = traffic.messages[traffic.messages.length - 1]?.at ?? 0;
    ctx.note(`${traffic.expected.length} readings, ${traffic.messages.length} publishes over ${Math.round(sendingMs)} ms`);
    await Promise.all([publisher.send(traffic.messages), faults(sendingMs)]);
    const outstanding = await publisher.settle(20_000);
    if (outstanding) ctx.note(`${outstanding} publishes never acknowledged`);
    await quiet(ctx, traffic.expected, publisher.acked.size);
    const { tally, detail } = await checkReadings(ctx.db, traffic.expected, publisher.acked, publisher.published);
    if (detail) ctx.note(detail);
    if (traffic.poison.length) {
      const missing = await unaccountedPoison(ctx.db, traffic.poison, publisher.acked);
      ctx.note(`${traffic.poison.length} poison messages, ${missing} neither stored nor quarantined`);
      for (let i = 0; i < missing; i++) ctx.flag('poison.unaccounted');
    }
    return { readings: tally };
  } finally {
    await publisher.close();
  }
}

/** Until every acknowledged reading is stored, or the stored count has not moved for 4 s (at most 40 s). */
async function quiet(ctx: RunContext, expected: Parameters<typeof storedCount>[1], acked: number): Promise<void> {
  const until = Date.now() + 40_000;
  let last = -1;
  let since = Date.now();
  while (Date.now() < until) {
    const n = await storedCount(ctx.db, expected).catch(() => last);
    if (n >= acked && n === expected.length) return;
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since > 4_000 && ctx.platform.running()) return;
    await sleep(250);
  }
}

/** `count` moments between `from` and `to` (fractions) of `span` ms, sorted. */
export function moments(rng: Rng, count: number, span: number, from = 0.1, to = 0.6): number[] {
  return Array.from({ length: count }, () => rng.int(Math.floor(span * from), Math.max(1, Math.floor(span * to)))).sort((a, b) => a - b);
}

/** Run `act` at each moment (ms after now), one after another. */
export async function at(times: number[], act: (i: number) => Promise<void>): Promise<void> {
  const start = Date.now();
  for (const [i, t] of times.entries()) {
    const wait = start + t - Date.now();
    if (wait > 0) await sleep(wait);
    await act(i);
  }
}
