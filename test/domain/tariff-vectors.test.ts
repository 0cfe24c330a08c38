// Tariff rating against the worked examples in test/fixtures/vectors/tariffs.json (their arithmetic is
// written out there): flat, blocks across a month, time-of-use split by time and across DST, fixed-charge
// proration, taxes on the right components, rounding with a carried remainder.
import { describe, expect, it } from 'vitest';
import { localDay, rateFixedCharges, rateReadings, roundAllWithCarry, tariffVersionInput, type TariffVersion } from '#domain/tariff/index';
import { loadVectors } from '../support/vectors.ts';

interface Vector {
  name: string;
  case: 'readings' | 'fixed' | 'rounding' | 'daily_fixed_month';
  timezone?: string;
  versions?: unknown[];
  input: Record<string, unknown>;
  expected: Record<string, unknown>;
}

const vectors = loadVectors<Vector>('tariffs.json');
const versionsOf = (v: Vector): TariffVersion[] => (v.versions ?? []).map((x) => tariffVersionInput.parse(x));

describe('tariff vectors', () => {
  it.each(vectors.filter((v) => v.case === 'readings').map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const input = v.input as { monthToDate: string; readings: { at: string; value: string }[] };

    const rated = rateReadings(versionsOf(v), v.timezone!, input.readings.map((r) => ({ at: new Date(r.at), value: r.value })), input.monthToDate);

    const expected = v.expected as { units: string; totalMinor: string; monthToDate: unknown; lines: Record<string, string>[] };
    expect(rated.units).toBe(expected.units);
    expect(rated.totalMinor).toBe(expected.totalMinor);
    expect(rated.monthToDate).toEqual(expected.monthToDate);
    expect(rated.lines).toHaveLength(expected.lines.length);
    expected.lines.forEach((line, i) => expect(rated.lines[i]).toMatchObject(line));
  });

  it.each(vectors.filter((v) => v.case === 'fixed').map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const input = v.input as { from: string; to: string };

    const rated = rateFixedCharges(versionsOf(v), v.timezone!, new Date(input.from), new Date(input.to));

    const expected = v.expected as { totalMinor: string; lines: Record<string, string>[] };
    expect(rated.totalMinor).toBe(expected.totalMinor);
    expect(rated.lines).toHaveLength(expected.lines.length);
    expected.lines.forEach((line, i) => expect(rated.lines[i]).toMatchObject(line));
  });

  it.each(vectors.filter((v) => v.case === 'rounding').map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const input = v.input as { carryIn: string; exactMinors: string[] };

    expect(roundAllWithCarry(input.exactMinors, input.carryIn)).toEqual(v.expected);
  });

  it.each(vectors.filter((v) => v.case === 'daily_fixed_month').map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const versions = versionsOf(v);
    const [year, month] = (v.input.month as string).split('-').map(Number) as [number, number];
    const days: string[] = [];
    // One entry per local day, as the billing job posts them.
    let day = localDay(v.timezone!, Date.UTC(year, month - 1, 1, 12));
    while (new Date(day.start).getUTCMonth() === month - 1 || days.length === 0) {
      days.push(rateFixedCharges(versions, v.timezone!, new Date(day.start), new Date(day.end)).totalMinor);
      day = localDay(v.timezone!, day.end);
      if (!day.date.startsWith(v.input.month as string)) break;
    }

    const { minors, carry } = roundAllWithCarry(days);

    const expected = v.expected as { dailyExactMinor: string; postedMinor: number; carry: string };
    expect(days).toHaveLength(28);
    expect(new Set(days)).toEqual(new Set([expected.dailyExactMinor]));
    expect(minors.reduce((a, b) => a + b, 0)).toBe(expected.postedMinor);
    expect(carry).toBe(expected.carry);
  });
});
