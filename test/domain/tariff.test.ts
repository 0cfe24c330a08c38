// Tariff versions as the API takes them (clear errors for what cannot be rated), and rating rules beyond
// the worked vectors: a version change inside an interval, readings that cannot be rated, and the two
// properties that keep money whole (rounding with carry conserves it; splitting an interval changes nothing).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dec, interpolateReading, unitPriceAt, rateFixedCharges, rateInterval, rateReadings, roundAllWithCarry, TariffRatingError, tariffVersionInput, type TariffVersion } from '#domain/tariff/index';
import { formatIssues } from '#domain/issues';

const version = (components: unknown[], effectiveFrom = '2026-01-01T00:00:00+03:00') => ({ effectiveFrom, components });
const parse = (components: unknown[]) => tariffVersionInput.safeParse(version(components));
const problems = (components: unknown[]) => {
  const result = parse(components);
  return result.success ? '' : formatIssues(result.error);
};
const at = (iso: string) => new Date(iso);

const touOf = (periods: unknown[]) => ({ id: 'energy', kind: 'tou', bands: [{ name: 'peak', rateMinor: '2500' }, { name: 'offpeak', rateMinor: '1200' }], periods });

describe('a tariff version', () => {
  it('is accepted with every kind of component', () => {
    const result = parse([
      { id: 'blocks', kind: 'blocks', blocks: [{ upTo: 30, rateMinor: 1223, name: 'lifeline' }, { upTo: null, rateMinor: '1654.25' }] },
      touOf([{ band: 'peak', days: 'all', from: '06:00', to: '22:00' }, { band: 'offpeak', days: 'all', from: '22:00', to: '06:00' }]),
      { id: 'standing', kind: 'fixed', per: 'month', amountMinor: '15000' },
      { id: 'fuel', kind: 'unit_levy', rateMinor: '350', appliesTo: ['energy'] },
      { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['energy', 'blocks', 'standing', 'fuel'] },
    ]);

    expect(result.error?.issues).toBeUndefined();
  });

  it('names time-of-use periods that overlap', () => {
    expect(problems([touOf([{ band: 'peak', days: 'all', from: '06:00', to: '22:00' }, { band: 'offpeak', days: 'all', from: '21:00', to: '06:00' }])])).toMatch(
      /on weekdays period 21:00-06:00 \(offpeak\) overlaps period 06:00-22:00 \(peak\) from 21:00/,
    );
  });

  it('names hours of the day in no time-of-use band', () => {
    const text = problems([touOf([{ band: 'peak', days: 'weekdays', from: '06:00', to: '22:00' }, { band: 'offpeak', days: 'all', from: '22:00', to: '05:00' }])]);

    expect(text).toMatch(/on weekdays 05:00-06:00 is in no band/);
    expect(text).toMatch(/on weekends 05:00-22:00 is in no band/);
  });

  it('refuses a period of an unknown band', () => {
    expect(problems([touOf([{ band: 'shoulder', days: 'all', from: '00:00', to: '24:00' }])])).toMatch(/unknown band shoulder/);
  });

  it('refuses blocks that do not ascend, or an open block before the last', () => {
    expect(problems([{ id: 'e', kind: 'blocks', blocks: [{ upTo: '100', rateMinor: '1' }, { upTo: '30', rateMinor: '2' }, { upTo: null, rateMinor: '3' }] }])).toMatch(
      /components\.0\.blocks\.1\.upTo: blocks must ascend: 30 is not above the previous block's 100/,
    );
    expect(problems([{ id: 'e', kind: 'blocks', blocks: [{ upTo: null, rateMinor: '1' }, { upTo: '30', rateMinor: '2' }] }])).toMatch(/only the last block may be open-ended/);
    expect(problems([{ id: 'e', kind: 'blocks', blocks: [{ upTo: '30', rateMinor: '1' }] }])).toMatch(/the last block is open-ended/);
  });

  it('refuses a tax that names an unknown component, a later tax, or itself', () => {
    expect(problems([{ id: 'energy', kind: 'flat', rateMinor: '1' }, { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['energy', 'standing'] }])).toMatch(
      /components\.1\.appliesTo\.1: vat applies to unknown component standing/,
    );
    expect(
      problems([
        { id: 'energy', kind: 'flat', rateMinor: '1' },
        { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['levy'] },
        { id: 'levy', kind: 'percent_tax', percent: '5', appliesTo: ['energy'] },
      ]),
    ).toMatch(/vat applies to tax levy, which must be listed before it/);
    expect(problems([{ id: 'energy', kind: 'flat', rateMinor: '1' }, { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['vat'] }])).toMatch(/cannot apply to itself/);
  });

  it('refuses a per-unit levy on a fixed charge', () => {
    expect(problems([{ id: 'standing', kind: 'fixed', per: 'day', amountMinor: '100' }, { id: 'levy', kind: 'unit_levy', rateMinor: '5', appliesTo: ['standing'] }])).toMatch(
      /levy levy is per unit: it applies to consumption components/,
    );
  });

  it('refuses duplicate ids, negative or over-precise rates, and an instant without an offset', () => {
    expect(problems([{ id: 'e', kind: 'flat', rateMinor: '1' }, { id: 'e', kind: 'flat', rateMinor: '2' }])).toMatch(/component id e is used twice/);
    expect(problems([{ id: 'e', kind: 'flat', rateMinor: '-1' }])).toMatch(/non-negative decimal/);
    expect(problems([{ id: 'e', kind: 'flat', rateMinor: '1.1234567' }])).toMatch(/more than 6 decimal places/);
    expect(tariffVersionInput.safeParse({ effectiveFrom: '2026-01-01T00:00:00', components: [{ id: 'e', kind: 'flat', rateMinor: '1' }] }).success).toBe(false);
  });
});

const flat = (rate: string, from: string): TariffVersion => tariffVersionInput.parse(version([{ id: 'energy', kind: 'flat', rateMinor: rate }], from));

describe('rating', () => {
  it('prices each part of an interval by the version in effect then', () => {
    const versions = [flat('1000', '2026-01-01T00:00:00Z'), flat('2000', '2026-03-01T12:00:00Z')];

    // 11:00 -> 13:00 UTC, 4 kWh: 2 before the new version at 12:00, 2 after.
    const rated = rateInterval(versions, 'UTC', { from: { at: at('2026-03-01T11:00:00Z'), value: 10 }, to: { at: at('2026-03-01T13:00:00Z'), value: 14 } });

    expect(rated.lines.map((l) => [l.versionFrom, l.quantity, l.amountMinor])).toEqual([
      ['2026-01-01T00:00:00.000Z', '2', '2000'],
      ['2026-03-01T12:00:00.000Z', '2', '4000'],
    ]);
    expect(rated.totalMinor).toBe('6000');
  });

  it('refuses a meter total that went down, and time before the first version', () => {
    const versions = [flat('1000', '2026-01-01T00:00:00Z')];

    expect(() => rateInterval(versions, 'UTC', { from: { at: at('2026-03-01T11:00:00Z'), value: 10 }, to: { at: at('2026-03-01T12:00:00Z'), value: 9 } })).toThrow(
      expect.objectContaining({ code: 'negative_consumption' }) as Error,
    );
    expect(() => rateInterval(versions, 'UTC', { from: { at: at('2025-12-31T23:00:00Z'), value: 1 }, to: { at: at('2026-01-01T01:00:00Z'), value: 2 } })).toThrow(TariffRatingError);
  });

  it('rates units reported at one instant by the tariff at that instant', () => {
    const rated = rateInterval([flat('1000', '2026-01-01T00:00:00Z')], 'UTC', { from: { at: at('2026-03-01T11:00:00Z'), value: 10 }, to: { at: at('2026-03-01T11:00:00Z'), value: 10.5 } });

    expect(rated.totalMinor).toBe('500');
  });

  it('prices one more unit by the block and band in force, taxes included', () => {
    const versions = [
      tariffVersionInput.parse(
        version([
          { id: 'energy', kind: 'blocks', blocks: [{ upTo: '30', rateMinor: '1000' }, { upTo: null, rateMinor: '2000' }] },
          { id: 'fuel', kind: 'unit_levy', rateMinor: '300', appliesTo: ['energy'] },
          { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['energy', 'fuel'] },
        ]),
      ),
    ];

    // Within the lifeline block: (1000 + 300) x 1.16 = 1508; above it: (2000 + 300) x 1.16 = 2668.
    expect(unitPriceAt(versions, 'Africa/Nairobi', at('2026-03-05T10:00:00+03:00'), '10')).toBe('1508');
    expect(unitPriceAt(versions, 'Africa/Nairobi', at('2026-03-05T10:00:00+03:00'), '30')).toBe('2668');
  });

  it('charges a per-day fixed charge for the real length of a DST day (a part of it by its share)', () => {
    const versions = [tariffVersionInput.parse(version([{ id: 'standing', kind: 'fixed', per: 'day', amountMinor: '2400' }], '2026-01-01T00:00:00+01:00'))];

    // Berlin's 29 March 2026 has 23 hours; its first 23 hours are the whole day.
    expect(rateFixedCharges(versions, 'Europe/Berlin', at('2026-03-28T23:00:00Z'), at('2026-03-29T22:00:00Z')).totalMinor).toBe('2400');
    // 10 of its 23 hours.
    expect(rateFixedCharges(versions, 'Europe/Berlin', at('2026-03-28T23:00:00Z'), at('2026-03-29T09:00:00Z')).totalMinor).toBe(dec(2400).times(dec(10).div(23).toDecimalPlaces(9)).toFixed());
  });
});

// ---- Properties ----

const minorAmount = fc.tuple(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 999_999_999 })).map(([i, f]) => `${i}.${String(f).padStart(9, '0')}`);

describe('money is conserved', () => {
  it('rounding with carry: posted entries plus the carry left equal the exact amounts plus the carry in', () => {
    fc.assert(
      fc.property(fc.array(minorAmount, { maxLength: 40 }), fc.integer({ min: -500, max: 500 }), (exacts, carryMilli) => {
        const carryIn = dec(carryMilli).div(1000);

        const { minors, carry } = roundAllWithCarry(exacts, carryIn);

        const posted = minors.reduce((a, b) => a + b, 0);
        expect(dec(posted).plus(carry).eq(exacts.reduce((a, b) => a.plus(b), dec(0)).plus(carryIn))).toBe(true);
        expect(dec(carry).abs().lte(0.5)).toBe(true);
        minors.forEach((m) => expect(Number.isInteger(m)).toBe(true));
      }),
    );
  });

  const tou = tariffVersionInput.parse(
    version(
      [
        {
          id: 'energy',
          kind: 'tou',
          bands: [
            { name: 'peak', rateMinor: '2500.5' },
            { name: 'mid', rateMinor: '1800' },
            { name: 'offpeak', rateMinor: '1200.25' },
          ],
          periods: [
            { band: 'offpeak', days: 'weekdays', from: '22:00', to: '06:00' },
            { band: 'mid', days: 'weekdays', from: '06:00', to: '17:30' },
            { band: 'peak', days: 'weekdays', from: '17:30', to: '22:00' },
            { band: 'offpeak', days: 'weekends', from: '00:00', to: '02:30' },
            { band: 'mid', days: 'weekends', from: '02:30', to: '24:00' },
          ],
        },
        { id: 'blocks', kind: 'blocks', blocks: [{ upTo: '30', rateMinor: '100' }, { upTo: '75.5', rateMinor: '200' }, { upTo: null, rateMinor: '300' }] },
        { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['energy', 'blocks'] },
      ],
      '2025-01-01T00:00:00Z',
    ),
  );
  const v2 = { ...tou, effectiveFrom: at('2026-10-25T00:30:00Z') };
  const zones = ['Europe/Berlin', 'America/New_York', 'Africa/Nairobi', 'Australia/Lord_Howe'] as const;
  // Intervals around DST changes and month ends of 2026.
  const instant = fc.integer({ min: Date.parse('2026-03-27T00:00:00Z'), max: Date.parse('2026-04-02T00:00:00Z') });
  const instantAutumn = fc.integer({ min: Date.parse('2026-10-23T00:00:00Z'), max: Date.parse('2026-11-03T00:00:00Z') });
  const units = fc.integer({ min: 0, max: 100_000_000 }).map((n) => dec(n).div(1_000_000));

  it('the lines of an interval always add up to its units, split by month, band and version', () => {
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.oneof(fc.tuple(instant, instant), fc.tuple(instantAutumn, instantAutumn)), units, units, (zone, [a, b], start, used) => {
        const [from, to] = a <= b ? [a, b] : [b, a];

        const rated = rateInterval([tou, v2], zone, { from: { at: new Date(from), value: start.toFixed() }, to: { at: new Date(to), value: start.plus(used).toFixed() }, monthToDate: '12' });

        const tou_ = rated.lines.filter((l) => l.componentId === 'energy');
        const blocks = rated.lines.filter((l) => l.componentId === 'blocks');
        expect(tou_.reduce((s, l) => s.plus(l.quantity), dec(0)).eq(used)).toBe(true);
        expect(blocks.reduce((s, l) => s.plus(l.quantity), dec(0)).eq(used)).toBe(true);
        expect(dec(rated.totalMinor).eq(rated.lines.reduce((s, l) => s.plus(l.amountMinor), dec(0)))).toBe(true);
      }),
    );
  });

  // Within one local month (with March's DST changes in Berlin and New York): blocks and flat rates do not
  // depend on when within the month units came, so any reading in between splits the money exactly.
  const march = fc.integer({ min: Date.parse('2026-03-02T00:00:00Z'), max: Date.parse('2026-03-30T00:00:00Z') });

  it('splitting a flat or block-priced interval at any instant and any reading in between changes neither units nor money', () => {
    const blocksOnly = tariffVersionInput.parse(
      version(
        [
          { id: 'blocks', kind: 'blocks', blocks: [{ upTo: '30', rateMinor: '100' }, { upTo: '75.5', rateMinor: '200.125' }, { upTo: null, rateMinor: '300' }] },
          { id: 'flat', kind: 'flat', rateMinor: '17.5' },
          { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['blocks', 'flat'] },
        ],
        '2025-01-01T00:00:00Z',
      ),
    );
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.tuple(march, march, march), units, units, fc.double({ min: 0, max: 1, noNaN: true }), (zone, times, start, used, part) => {
        const [from, mid, to] = [...times].sort((x, y) => x - y) as [number, number, number];
        const a = { at: new Date(from), value: start.toFixed() };
        const c = { at: new Date(to), value: start.plus(used).toFixed() };
        const b = { at: new Date(mid), value: start.plus(used.times(part).toDecimalPlaces(6)).toFixed() };

        const whole = rateReadings([blocksOnly], zone, [a, c], '10');
        const first = rateInterval([blocksOnly], zone, { from: a, to: b, monthToDate: '10' });
        const second = rateInterval([blocksOnly], zone, { from: b, to: c, monthToDate: first.monthToDate.units });
        const split = rateReadings([blocksOnly], zone, [a, b, c], '10');

        expect(dec(first.totalMinor).plus(second.totalMinor).eq(whole.totalMinor)).toBe(true);
        expect(dec(split.totalMinor).eq(whole.totalMinor)).toBe(true);
        expect(split.monthToDate).toEqual(whole.monthToDate);
      }),
    );
  });

  it('splitting a time-of-use interval at any instant, at the reading it implies there, changes the money by less than a billionth of a unit per piece', () => {
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.tuple(instantAutumn, instantAutumn, instantAutumn), units, units, (zone, times, start, used) => {
        const [from, mid, to] = [...times].sort((x, y) => x - y) as [number, number, number];
        const a = { at: new Date(from), value: start.toFixed() };
        const c = { at: new Date(to), value: start.plus(used).toFixed() };
        const b = { at: new Date(mid), value: interpolateReading(a, c, new Date(mid)) };

        const whole = rateReadings([tou, v2], zone, [a, c], '5');
        const split = rateReadings([tou, v2], zone, [a, b, c], '5');

        // Shares of units by time are kept to 9 decimal places: each piece of either rating may differ by
        // 1e-9 units, priced at most at the top rate with VAT.
        expect(split.units).toBe(whole.units);
        const pieces = whole.lines.length + split.lines.length + 4;
        expect(dec(split.totalMinor).minus(whole.totalMinor).abs().lte(dec(pieces).times('1e-9').times(2500.5 + 300).times(1.16))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
