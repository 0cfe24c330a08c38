// The chaos harness's own pieces: the seeded PRNG and the traffic plan must replay exactly from a seed,
// and what the plan expects must agree with what the meters' payloads say (the platform's decoder and
// counter rule), or the harness would report losses and wrong values that are its own; likewise the
// M-Pesa callbacks it posts must read, with the platform's own schemas, as the payments it expects.
import { describe, expect, it } from 'vitest';
import { decodeUplink } from '#domain/decoders/index';
import { advanceCounter, type CounterState } from '#domain/counter';
import { c2bCallbackSchema, c2bPayment, stkCallbackSchema, stkResult } from '#domain/mpesa';
import { Rng } from './prng.ts';
import { c2bConfirmation, stkCallback, templates } from './scenarios/payments.ts';
import { plan, type TrafficShape } from './traffic.ts';

const shape: TrafficShape = { em300Devices: 3, esp32Meters: 2, perDevice: 40, duplicates: 0.3, reorderNear: 0.2, reorderFar: 0.1, resets: 0.1, wraps: true, farFuture: false, rate: 100 };

describe('Rng', () => {
  it('gives the same stream for the same seed and run, and another for another run', () => {
    const a = new Rng(7, 3);
    const b = new Rng(7, 3);
    const c = new Rng(7, 4);

    const [xs, ys, zs] = [a, b, c].map((r) => Array.from({ length: 20 }, () => r.u32()));

    expect(xs).toEqual(ys);
    expect(xs).not.toEqual(zs);
  });
});

describe('traffic plan', () => {
  it('replays exactly from the seed', () => {
    const now = Date.parse('2026-11-30T12:00:00Z');

    const first = plan(new Rng(11, 0), shape, now);
    const second = plan(new Rng(11, 0), shape, now);

    expect(first).toEqual(second);
    expect(plan(new Rng(11, 1), shape, now).messages).not.toEqual(first.messages);
  });

  it("expects, for each EM300-DI uplink in device order, the total the platform's counter rule gives in order", () => {
    const { messages, expected } = plan(new Rng(5, 1), { ...shape, duplicates: 0, reorderNear: 0, reorderFar: 0 });
    const states = new Map<string, CounterState>();
    let checked = 0;

    for (const m of messages.filter((x) => x.topic.startsWith('application/'))) {
      const event = JSON.parse(m.payload) as { data: string; fPort: number; time: string; deviceInfo: { devEui: string } };
      const decoded = decodeUplink('milesight_em300_di', { bytes: new Uint8Array(Buffer.from(event.data, 'base64')), fPort: event.fPort });
      if (!decoded.ok) throw decoded.error;
      const devEui = event.deviceInfo.devEui;
      const step = advanceCounter(states.get(devEui) ?? { offset: 0, lastCount: null, lastAt: null }, decoded.value.measurements.pulseCount ?? NaN, new Date(event.time));
      states.set(devEui, step.state);

      expect(step.total / 1000).toBeCloseTo(expected.find((e) => e.identity === m.identity)!.value, 6);
      checked++;
    }
    expect(checked).toBe(shape.em300Devices * shape.perDevice);
  });

  it('has every reading published at least once and about 30% of them twice', () => {
    const { messages, expected } = plan(new Rng(3, 0), shape);

    const identities = new Set(messages.map((m) => m.identity));

    expect(identities.size).toBe(expected.length);
    expect(messages.length / expected.length).toBeGreaterThan(1.15);
    expect(messages.length / expected.length).toBeLessThan(1.45);
  });
});

describe('payment callbacks', () => {
  const at = new Date('2026-11-30T09:15:27Z');

  it("builds C2B confirmations that the platform reads as the harness's receipt, amount and reference", async () => {
    const { c2b } = await templates();

    const body = JSON.parse(c2bConfirmation(c2b, { receipt: 'SAB12CD34E', amountMinor: 250_050, reference: 'cp1a2b ', at })) as unknown;

    expect(c2bPayment(c2bCallbackSchema.parse(body))).toMatchObject({ receipt: 'SAB12CD34E', amountMinor: 250_050, reference: 'cp1a2b', transactedAt: at });
  });

  it('builds paid and cancelled STK results for the push the platform asked for', async () => {
    const { stkPaid, stkCancelled } = await templates();
    const push = { merchantRequestId: '12345-6789012-1', checkoutRequestId: 'ws_CO_301120260915271234', amountMinor: 12_300, phone: '254712345678' };

    const paid = stkResult(stkCallbackSchema.parse(JSON.parse(stkCallback(stkPaid, { ...push, paid: { receipt: 'SXY98ZW76V', at } }))));
    const cancelled = stkResult(stkCallbackSchema.parse(JSON.parse(stkCallback(stkCancelled, { ...push, paid: undefined }))));

    expect(paid).toMatchObject({ checkoutRequestId: push.checkoutRequestId, problem: null, paid: { receipt: 'SXY98ZW76V', amountMinor: 12_300, phone: '254712345678', transactedAt: at } });
    expect(cancelled).toMatchObject({ checkoutRequestId: push.checkoutRequestId, paid: null, resultCode: 1032 });
  });
});
