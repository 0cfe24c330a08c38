// The counter rule the store follows when a late uplink lands between stored ones, and the clock check
// that keeps a device's reported time from running ahead of the receive time.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkClock, defaultClockPolicy } from '#domain/clock';
import { advanceCounter, counterDelta, counterIncrement, counterOffsets, COUNTER_WRAP, type CounterState } from '#domain/counter';

const count = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 2 ** 32 - 1000, max: 2 ** 32 - 1 }));

describe('counter increments between neighbours', () => {
  it('adds nothing while the count rises, the previous count on a reset, 2^32 on a wrap', () => {
    expect(counterIncrement(null, 5)).toBe(0);
    expect(counterIncrement(100, 150)).toBe(0);
    expect(counterIncrement(5000, 20)).toBe(5000);
    expect(counterIncrement(2 ** 32 - 10, 5)).toBe(COUNTER_WRAP);
  });

  it('never counts less consumption when a reading is placed between two neighbours', () => {
    fc.assert(
      fc.property(count, count, count, (a, x, b) => {
        expect(counterDelta(a, x) + counterDelta(x, b)).toBeGreaterThanOrEqual(counterDelta(a, b));
      }),
    );
  });

  it('gives the offsets advanceCounter reaches over the same counts in order', () => {
    fc.assert(
      fc.property(fc.array(count, { maxLength: 30 }), (counts) => {
        let state: CounterState = { offset: 0, lastCount: null, lastAt: null };
        const stepped = counts.map((c, i) => {
          state = advanceCounter(state, c, new Date(Date.UTC(2026, 0, 1, 0, 0, i))).state;
          return state.offset;
        });

        expect(counterOffsets(null, counts)).toEqual(stepped);
      }),
    );
  });

  it('continues from the reading before a late one', () => {
    expect(counterOffsets({ offset: 7000, count: 900 }, [20, 40])).toEqual([7900, 7900]);
  });
});

describe('a reported time checked against the receive time', () => {
  const receivedAt = new Date('2026-11-30T12:00:00Z');

  it('keeps a time within the tolerance', () => {
    const reported = new Date(receivedAt.getTime() + 299_000);

    expect(checkClock(reported, receivedAt, defaultClockPolicy)).toEqual({ ok: true, time: reported });
  });

  it('corrects a time further ahead to the receive time, saying what was reported', () => {
    const reported = new Date('2036-11-30T12:00:00Z');

    const checked = checkClock(reported, receivedAt, defaultClockPolicy);

    expect(checked).toMatchObject({ ok: true, time: receivedAt, correction: { reportedTime: reported.toISOString(), correctedTo: receivedAt.toISOString() } });
  });

  it('refuses a time further ahead under the quarantine policy', () => {
    const checked = checkClock(new Date('2036-11-30T12:00:00Z'), receivedAt, { maxAheadMs: 60_000, futureTime: 'quarantine' });

    expect(checked.ok).toBe(false);
  });

  it('keeps a time in the past however old', () => {
    const reported = new Date('2020-01-01T00:00:00Z');

    expect(checkClock(reported, receivedAt, defaultClockPolicy)).toEqual({ ok: true, time: reported });
  });
});
