// Counters that order can't poison, clocks that can't freeze a meter: a device's uplinks (with counter
// resets and wrap-arounds) and an ESP32 meter's reports, delivered in any order, split into any batches,
// redelivered and written concurrently, give the stored series the device's own order implies. Runs on
// PostgreSQL when DATABASE_URL is set (real concurrency), PGlite otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { counterOffsets } from '#domain/counter';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import type { InboundMessage } from '#app/ingest/inbound';
import { createMeter } from '#app/registry/registry';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { inbound, randomEui, upEvent, upMessage, upTopic } from '../support/chirpstack.ts';

let testDb: TestDb;
let deps: IngestDeps;
const actor = { principal: { subject: 'test', roles: ['admin' as const] } };

beforeAll(async () => {
  testDb = await openTestDb();
  logger.setLogLevel('SILENT');
  deps = { db: testDb.db, logger, now: () => new Date(), commandExpiryHours: 48 };
});
afterAll(async () => {
  await testDb.close();
});

const PER_UNIT = 1000;
const counterHex = (count: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(count);
  return '05c8' + b.toString('hex');
};
const minute = (base: number, i: number) => new Date(base + i * 60_000);

async function em300Meter() {
  const devEui = randomEui();
  const { meter, device } = await createMeter(testDb.db, { meterNo: `O${devEui.slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_em300_di', devEui, lifecycle: 'active', config: { pulsesPerUnit: PER_UNIT } } }, actor, new Date());
  return { devEui, meterId: meter.id, deviceId: device!.id };
}

async function esp32Meter() {
  const meterNo = `EO${randomEui().slice(0, 10)}`;
  const { meter } = await createMeter(testDb.db, { meterNo, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'esp32_meter', meterNo, lifecycle: 'active' } }, actor, new Date());
  return { meterNo, meterId: meter.id };
}

const series = async (meterId: string) =>
  (await testDb.db.selectFrom('meter_readings').select(['reading_value', 'pulse_count', 'reading_date', 'f_cnt', 'extra']).where('meter_id', '=', meterId).orderBy('reading_date').orderBy('f_cnt').orderBy('source_key').execute());

const meterRow = (meterId: string) => testDb.db.selectFrom('meters').selectAll().where('id', '=', meterId).executeTakeFirstOrThrow();

const nonDecreasing = (values: number[]) => values.every((v, i) => i === 0 || v >= values[i - 1]!);

// A device's counts in its order: steady rises, resets to a small count, and runs up to the 32-bit top
// that then wrap.
type Step = { kind: 'rise'; by: number } | { kind: 'reset'; to: number } | { kind: 'nearTop' } | { kind: 'wrap'; by: number };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 5000 }).map((by) => ({ kind: 'rise' as const, by })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 50 }).map((to) => ({ kind: 'reset' as const, to })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'nearTop' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }).map((by) => ({ kind: 'wrap' as const, by })) },
);
function countsOf(start: number, steps: Step[]): number[] {
  let c = start;
  return steps.map((s) => {
    if (s.kind === 'rise') c = Math.min(c + s.by, 2 ** 32 - 1);
    else if (s.kind === 'reset') c = s.to;
    else if (s.kind === 'nearTop') c = 2 ** 32 - 1 - (c % 1000);
    else c = (c + s.by) % 2 ** 32;
    return c;
  });
}

/** Each message placed by its sort key, a new batch where `cut` says so, and some delivered twice. */
interface Delivery { key: number; cut: boolean; again: boolean }
const delivery: fc.Arbitrary<Delivery> = fc.record({ key: fc.double({ min: 0, max: 1, noNaN: true }), cut: fc.boolean(), again: fc.boolean() });
function batchesOf(messages: InboundMessage[], plan: Delivery[]): InboundMessage[][] {
  const order = messages.map((m, i) => ({ m, d: plan[i]! })).sort((a, b) => a.d.key - b.d.key);
  const batches: InboundMessage[][] = [[]];
  for (const { m, d } of order) {
    if (d.cut && batches.at(-1)!.length) batches.push([]);
    batches.at(-1)!.push(m);
  }
  // Redeliveries: the same message again, in the last batch (after its original was written).
  const again = order.filter(({ d }) => d.again).map(({ m }) => ({ ...m, id: `${m.id}-again` }));
  if (again.length) batches.push(again);
  return batches;
}

async function deliver(batches: InboundMessage[][], concurrently: boolean) {
  if (!concurrently) {
    for (const b of batches) expect((await ingestBatch(deps, b)).retry).toEqual([]);
    return;
  }
  // Two batches at a time, racing each other for the device (the cloud runs batches concurrently).
  for (let i = 0; i < batches.length; i += 2) {
    const results = await Promise.all(batches.slice(i, i + 2).map((b) => ingestBatch(deps, b)));
    for (const r of results) expect(r.retry).toEqual([]);
  }
}

const uplinkCase = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.array(step, { minLength: 2, maxLength: 10 }))
  .chain(([start, steps]) => fc.tuple(fc.constant(countsOf(start, steps)), fc.array(delivery, { minLength: steps.length, maxLength: steps.length })));

async function checkUplinks(counts: number[], plan: Delivery[], concurrently: boolean) {
  const { devEui, meterId } = await em300Meter();
  const base = Date.UTC(2026, 9, 1);
  const messages = counts.map((c, i) => upMessage({ devEui, fPort: 85, hex: counterHex(c), fCnt: i + 1, time: minute(base, i) }));

  await deliver(batchesOf(messages, plan), concurrently);

  const expected = counterOffsets(null, counts).map((offset, i) => (offset + counts[i]!) / PER_UNIT);
  const stored = await series(meterId);
  const values = stored.map((r) => Number(r.reading_value));
  expect(stored.map((r) => Number(r.pulse_count))).toEqual(counts);
  expect(values).toEqual(expected);
  expect(nonDecreasing(values)).toBe(true);
  const meter = await meterRow(meterId);
  expect(Number(meter.last_reading)).toBe(expected.at(-1));
  expect(meter.last_reading_date?.getTime()).toBe(minute(base, counts.length - 1).getTime());
}

describe('a pulse counter delivered out of order', () => {
  it('stores the series of its own order, whatever the arrival order, batches and redeliveries', async () => {
    await fc.assert(fc.asyncProperty(uplinkCase, ([counts, plan]) => checkUplinks(counts, plan, false)), { numRuns: 12 });
  });

  it('stores the same series when batches of the same device are written concurrently', async () => {
    await fc.assert(fc.asyncProperty(uplinkCase, ([counts, plan]) => checkUplinks(counts, plan, true)), { numRuns: 12 });
  });

  it('gives a pre-wrap uplink arriving after the wrap its own offset, not the post-wrap one', async () => {
    const { devEui, meterId } = await em300Meter();
    const base = Date.UTC(2026, 9, 2);
    const [before, top, after] = [2 ** 32 - 2000, 2 ** 32 - 1000, 500].map((c, i) => upMessage({ devEui, fPort: 85, hex: counterHex(c), fCnt: i + 1, time: minute(base, i) }));

    await ingestBatch(deps, [before!, after!]);
    await ingestBatch(deps, [top!]);

    const values = (await series(meterId)).map((r) => Number(r.reading_value));
    expect(values).toEqual([(2 ** 32 - 2000) / PER_UNIT, (2 ** 32 - 1000) / PER_UNIT, (2 ** 32 + 500) / PER_UNIT]);
  });

  it('raises the readings stored after a late uplink that reveals a reset between them', async () => {
    const { devEui, meterId } = await em300Meter();
    const base = Date.UTC(2026, 9, 3);
    const [first, peak, low] = [1000, 9000, 100].map((c, i) => upMessage({ devEui, fPort: 85, hex: counterHex(c), fCnt: i + 1, time: minute(base, i) }));

    await ingestBatch(deps, [first!, low!]);
    await ingestBatch(deps, [peak!]);

    const values = (await series(meterId)).map((r) => Number(r.reading_value));
    expect(values).toEqual([1, 9, 9.1]);
    expect(Number((await meterRow(meterId)).last_reading)).toBe(9.1);
  });

  it('marks the reading where the counter reset, also when a late uplink moves the reset', async () => {
    const { devEui, meterId } = await em300Meter();
    const base = Date.UTC(2026, 9, 4);
    const [high, restarted, later] = [5000, 50, 100].map((c, i) => upMessage({ devEui, fPort: 85, hex: counterHex(c), fCnt: i + 1, time: minute(base, i) }));

    await ingestBatch(deps, [high!, later!]);
    await ingestBatch(deps, [restarted!]);

    const marks = (await series(meterId)).map((r) => r.extra?.counterDiscontinuity ?? null);
    expect(marks).toEqual([null, 'reset', null]);
  });

  it('marks a wrap as a wrap', async () => {
    const { devEui, meterId } = await em300Meter();
    const base = Date.UTC(2026, 9, 4, 12);

    await ingestBatch(deps, [2 ** 32 - 5, 10].map((c, i) => upMessage({ devEui, fPort: 85, hex: counterHex(c), fCnt: i + 1, time: minute(base, i) })));

    const marks = (await series(meterId)).map((r) => r.extra?.counterDiscontinuity ?? null);
    expect(marks).toEqual([null, 'wrap']);
  });
});

describe('ESP32 reports delivered out of order', () => {
  const esp32Case = fc
    .array(fc.integer({ min: 0, max: 40 }).map((n) => n / 4), { minLength: 1, maxLength: 10 })
    .chain((units) => fc.tuple(fc.constant(units), fc.array(delivery, { minLength: units.length, maxLength: units.length }), fc.boolean()));

  it('stores running totals in the order of the meter timestamps, ending at the exact total', async () => {
    await fc.assert(
      fc.asyncProperty(esp32Case, async ([units, plan, concurrently]) => {
        const { meterNo, meterId } = await esp32Meter();
        const base = Date.UTC(2026, 9, 5);
        const messages = units.map((u, i) => inbound(`smartmeter/${meterNo}/consumption`, { meterNo, unitsConsumed: u, timestamp: base + i * 60_000 }));

        await deliver(batchesOf(messages, plan), concurrently);

        let total = 0;
        const expected = units.map((u) => (total += u));
        const values = (await series(meterId)).map((r) => Number(r.reading_value));
        expect(values).toEqual(expected);
        expect(Number((await meterRow(meterId)).last_reading)).toBe(total);
      }),
      { numRuns: 12 },
    );
  });
});

describe('a device clock far ahead', () => {
  it('corrects an uplink dated ten years ahead to its receive time, with a warning on the reading', async () => {
    const { devEui, meterId, deviceId } = await em300Meter();
    const receivedAt = new Date(Date.UTC(2026, 9, 10, 12));
    const future = new Date(Date.UTC(2036, 9, 10, 12));

    await ingestBatch(deps, [inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: counterHex(100), fCnt: 1, time: future }), receivedAt)]);

    const [reading] = await series(meterId);
    expect(reading!.reading_date.toISOString()).toBe(receivedAt.toISOString());
    expect(reading!.extra).toMatchObject({ clock: { reportedTime: future.toISOString(), correctedTo: receivedAt.toISOString() }, warnings: [expect.stringContaining('ahead of the receive time')] });
    const device = await testDb.db.selectFrom('devices').select('last_seen_at').where('id', '=', deviceId).executeTakeFirstOrThrow();
    expect(device.last_seen_at?.toISOString()).toBe(receivedAt.toISOString());
  });

  it('does not freeze the meter: later uplinks move it and a later reset is still detected', async () => {
    const { devEui, meterId } = await em300Meter();
    const t = (m: number) => new Date(Date.UTC(2026, 9, 11, 12, m));
    const at = (count: number, fCnt: number, time: Date, receivedAt = time) => inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: counterHex(count), fCnt, time }), receivedAt);

    await ingestBatch(deps, [at(1000, 1, t(0))]);
    await ingestBatch(deps, [at(2000, 2, new Date(Date.UTC(2036, 9, 11)), t(10))]);
    await ingestBatch(deps, [at(50, 3, t(20))]);

    const meter = await meterRow(meterId);
    expect(meter.last_reading_date?.toISOString()).toBe(t(20).toISOString());
    expect(Number(meter.last_reading)).toBe(2.05);
  });

  it('places a corrected uplink by fCnt, after its predecessor, not at its receive time', async () => {
    // Device times in the past, received later (a backlog): the corrected uplink's receive time is after
    // every neighbour's time, so placing it there would read fCnt 4 (count 3,000) after fCnt 5 (4,000) as a reset.
    const { devEui, meterId } = await em300Meter();
    const t = (m: number) => new Date(Date.UTC(2026, 9, 15, 12, m));
    const receivedAt = t(30);
    const at = (count: number, fCnt: number, time: Date) => inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: counterHex(count), fCnt, time }), receivedAt);

    await ingestBatch(deps, [at(1000, 3, t(0))]);
    await ingestBatch(deps, [at(3000, 4, new Date(Date.UTC(2036, 9, 15)))]);
    await ingestBatch(deps, [at(4000, 5, t(2)), at(4500, 6, t(3))]);

    const rows = await series(meterId);
    expect(rows.map((r) => Number(r.f_cnt))).toEqual([3, 4, 5, 6]);
    expect(rows.map((r) => Number(r.reading_value))).toEqual([1, 3, 4, 4.5]);
    expect(rows[1]!.reading_date.toISOString()).toBe(t(0).toISOString());
    expect(rows[1]!.extra).toMatchObject({ clock: { reportedTime: '2036-10-15T00:00:00.000Z' }, clockPlacedBy: 'fCnt' });
    expect(rows.some((r) => (r.extra)?.counterDiscontinuity)).toBe(false);
  });

  it('stores a corrected uplink once when it is redelivered under a new deduplicationId', async () => {
    const { devEui, meterId } = await em300Meter();
    const t = (m: number) => new Date(Date.UTC(2026, 9, 16, 12, m));
    const future = new Date(Date.UTC(2036, 9, 16));
    const at = (count: number, fCnt: number, time: Date, receivedAt: Date) => inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: counterHex(count), fCnt, time }), receivedAt);

    await ingestBatch(deps, [at(1000, 1, t(0), t(0))]);
    await ingestBatch(deps, [at(2000, 2, future, t(1))]);
    await ingestBatch(deps, [at(2000, 2, future, t(5))]);

    expect((await series(meterId)).map((r) => Number(r.f_cnt))).toEqual([1, 2]);
  });

  it('quarantines an uplink dated too far ahead under the quarantine policy', async () => {
    const { devEui, meterId } = await em300Meter();
    const receivedAt = new Date(Date.UTC(2026, 9, 12));

    const result = await ingestBatch({ ...deps, clock: { maxAheadMs: 60_000, futureTime: 'quarantine' } }, [
      inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: counterHex(100), fCnt: 1, time: new Date(receivedAt.getTime() + 3_600_000) }), receivedAt),
    ]);

    expect(result.quarantined).toBe(1);
    const item = await testDb.db.selectFrom('quarantine').select('reason_code').where('dev_eui', '=', devEui).executeTakeFirstOrThrow();
    expect(item.reason_code).toBe('future_time');
    expect(await series(meterId)).toEqual([]);
  });

  it('corrects an ESP32 report dated far ahead and counts its redelivery once', async () => {
    const { meterNo, meterId } = await esp32Meter();
    const receivedAt = new Date(Date.UTC(2026, 9, 13));
    const body = { meterNo, unitsConsumed: 3, timestamp: Date.UTC(2036, 0, 1) };

    await ingestBatch(deps, [inbound(`smartmeter/${meterNo}/consumption`, body, receivedAt)]);
    await ingestBatch(deps, [inbound(`smartmeter/${meterNo}/consumption`, body, new Date(receivedAt.getTime() + 60_000))]);

    const meter = await meterRow(meterId);
    expect(meter.last_reading_date?.toISOString()).toBe(receivedAt.toISOString());
    expect(Number(meter.last_reading)).toBe(3);
  });

  it('places a corrected ESP32 report just after the report that came before it', async () => {
    // A backlog of reports dated in the past, all received now: the corrected one (2 units) goes after
    // the first report, so the third report's running total includes it.
    const { meterNo, meterId } = await esp32Meter();
    const t = (m: number) => Date.UTC(2026, 9, 17, 12, m);
    const receivedAt = new Date(t(30));
    const report = (unitsConsumed: number, timestamp: number) => inbound(`smartmeter/${meterNo}/consumption`, { meterNo, unitsConsumed, timestamp }, receivedAt);

    await ingestBatch(deps, [report(1, t(0)), report(2, Date.UTC(2036, 0, 1)), report(4, t(2))]);

    const rows = await series(meterId);
    expect(rows.map((r) => Number(r.reading_value))).toEqual([1, 3, 7]);
    expect(rows[1]!.reading_date.toISOString()).toBe(new Date(t(0) + 1).toISOString());
    expect(rows[1]!.extra).toMatchObject({ clockPlacedBy: 'arrival' });
    expect(Number((await meterRow(meterId)).last_reading)).toBe(7);
  });
});

describe('a network event clock far ahead', () => {
  it('never pins the device last-seen time in the future', async () => {
    const { devEui, deviceId } = await em300Meter();
    const receivedAt = new Date(Date.UTC(2026, 9, 14));
    const status = { deduplicationId: crypto.randomUUID(), time: '2036-10-14T00:00:00.000Z', deviceInfo: upEvent({ devEui, fPort: 85, hex: '' }).deviceInfo, margin: 7, externalPowerSource: false, batteryLevelUnavailable: false, batteryLevel: 80 };

    await ingestBatch(deps, [inbound(upTopic(devEui, 'status'), status, receivedAt)]);

    const device = await testDb.db.selectFrom('devices').select('last_seen_at').where('id', '=', deviceId).executeTakeFirstOrThrow();
    expect(device.last_seen_at?.toISOString()).toBe(receivedAt.toISOString());
  });
});
