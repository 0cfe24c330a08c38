import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { advanceCounter, pulseTotalValue, type CounterState } from '#domain/counter';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const fresh: CounterState = { offset: 0, lastCount: null, lastAt: null };

describe('pulse counter continuity', () => {
  it('follows a rising counter', () => {
    const a = advanceCounter(fresh, 100, t(1));
    const b = advanceCounter(a.state, 150, t(2));

    expect([a.total, b.total]).toEqual([100, 150]);
  });

  it('carries on after a reset to zero instead of going negative', () => {
    const a = advanceCounter(fresh, 5000, t(1));
    const b = advanceCounter(a.state, 20, t(2));

    expect(b).toMatchObject({ total: 5020, event: 'reset' });
  });

  it('treats a drop from near 2^32 as a wrap', () => {
    const a = advanceCounter(fresh, 2 ** 32 - 10, t(1));
    const b = advanceCounter(a.state, 5, t(2));

    expect(b).toMatchObject({ total: 2 ** 32 + 5, event: 'wrap' });
  });

  it('lets an old or redelivered uplink neither move the state nor register a reset', () => {
    const a = advanceCounter(fresh, 500, t(10));
    const old = advanceCounter(a.state, 400, t(5));

    expect(old.state).toBe(a.state);
    expect(old.event).toBeUndefined();
  });

  it('never decreases over any sequence of counts in time order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 50 }), (counts) => {
        let state = fresh;
        let previous = -Infinity;
        counts.forEach((count, i) => {
          const step = advanceCounter(state, count, t(i));
          expect(step.total).toBeGreaterThanOrEqual(previous);
          previous = step.total;
          state = step.state;
        });
      }),
    );
  });
});

describe('the metered value of a pulse total', () => {
  it('divides by the registry pulsesPerUnit, 1000 when it has none', () => {
    expect(pulseTotalValue(2500, 100)).toBe(25);
    expect(pulseTotalValue(2500, undefined)).toBe(2.5);
  });

  it('has no value when pulsesPerUnit is not usable or the quotient overflows', () => {
    expect(pulseTotalValue(2500, 0)).toBeUndefined();
    expect(pulseTotalValue(2500, 'many')).toBeUndefined();
    expect(pulseTotalValue(2500, Number.MIN_VALUE)).toBeUndefined();
  });
});
