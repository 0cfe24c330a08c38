// Rating: what a tariff makes of consumption between cumulative readings, and of fixed charges over a
// span of time, as priced lines with exact decimal amounts in minor units (rounding to whole minor units
// is rounding.ts's, per ledger entry). An interval is split by time where the tariff version changes, where
// a local calendar month starts (blocks count per month) and where a time-of-use band changes in the
// site's time zone; its units are shared out over the pieces in proportion to elapsed time (a 23-hour DST
// day has 23 hours of consumption), the last piece taking the remainder, so the pieces' units always add
// up to the interval's.
import { dec, quantize, str, sum, ZERO, type Decimal, type DecimalLike } from './decimal.ts';
import { isConsumption, isTax, type Component, type ConsumptionComponent, type FixedComponent, type TariffVersion, type TouComponent } from './schema.ts';
import { daysInMonth, localDay, nextMonthStart, nextTransitionAfter, offsetAt, wallParts } from './zone.ts';

export type RatingErrorCode = 'no_version_in_effect' | 'negative_consumption' | 'reversed_interval' | 'versions_out_of_order';

/** The interval cannot be rated as given (the caller reports it; nothing is billed). */
export class TariffRatingError extends Error {
  override name = 'TariffRatingError';
  constructor(
    readonly code: RatingErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A cumulative reading: the meter's running total (kWh, m³) at an instant. */
export interface Reading {
  at: Date;
  value: DecimalLike;
}

export interface PricedLine {
  componentId: string;
  kind: Component['kind'];
  /** What a statement shows: the component's name, and the block or band. */
  description: string;
  /** The block (1-based index or its name) or the time-of-use band, when there is one. */
  tier?: string;
  /** The local calendar month (YYYY-MM) a block line counts in. */
  month?: string;
  /** The effective-from instant of the tariff version that priced it. */
  versionFrom: string;
  /** The span of time the line covers (earliest and latest piece). */
  from: string;
  to: string;
  /** Units (kWh, m³), days (fixed charges), or the minor-unit base of a percentage tax. */
  quantity: string;
  quantityUnit: 'unit' | 'day' | 'minor';
  /** Minor units per unit or per day; the percentage for a percentage tax. */
  rate: string;
  /** quantity × rate (÷ 100 for a percentage), exact. */
  amountMinor: string;
}

export interface RatedCharges {
  lines: PricedLine[];
  /** The exact sum of the lines' amounts, in minor units. */
  totalMinor: string;
}

export interface RatedConsumption extends RatedCharges {
  /** Units consumed between the first and the last reading. */
  units: string;
  /** Units consumed in the local month holding the last reading's time, up to it. */
  monthToDate: { month: string; units: string };
}

// ---- Versions ----

interface VersionSpan {
  index: number;
  version: TariffVersion;
  start: number;
  end: number;
}

function checkOrder(versions: readonly TariffVersion[]): void {
  for (let i = 1; i < versions.length; i++) {
    if (!(versions[i]!.effectiveFrom.getTime() > versions[i - 1]!.effectiveFrom.getTime())) {
      throw new TariffRatingError('versions_out_of_order', 'tariff versions must be given in ascending order of effectiveFrom');
    }
  }
}

/** The versions in effect over [from, to) (a zero-length span gets the version in effect at `from`). */
function versionSpans(versions: readonly TariffVersion[], from: number, to: number): VersionSpan[] {
  const first = versions[0];
  if (!first || first.effectiveFrom.getTime() > from) {
    throw new TariffRatingError(
      'no_version_in_effect',
      `no tariff version is in effect at ${new Date(from).toISOString()}${first ? ` (the first starts ${first.effectiveFrom.toISOString()})` : ''}`,
    );
  }
  const spans: VersionSpan[] = [];
  versions.forEach((version, index) => {
    const start = Math.max(from, version.effectiveFrom.getTime());
    const next = versions[index + 1];
    const end = Math.min(to, next ? next.effectiveFrom.getTime() : Number.POSITIVE_INFINITY);
    if (start < end || (from === to && start === from && end === to)) spans.push({ index, version, start, end });
  });
  return spans;
}

// ---- Time-of-use ----

interface TouTable {
  /** Per day type, the band at each minute of the day and the minutes where the band may change. */
  weekdays: { bandAt: string[]; boundaries: number[] };
  weekends: { bandAt: string[]; boundaries: number[] };
  weekendDays: Set<number>;
  holidays: Set<string>;
  rates: Map<string, string>;
}

const touTables = new WeakMap<TouComponent, TouTable>();

function touTable(c: TouComponent): TouTable {
  let table = touTables.get(c);
  if (table) return table;
  const build = (dayType: 'weekdays' | 'weekends') => {
    const bandAt = new Array<string>(1440).fill('');
    for (const p of c.periods) {
      if (p.days !== dayType && p.days !== 'all') continue;
      const from = Number(p.from.slice(0, 2)) * 60 + Number(p.from.slice(3));
      const to = Number(p.to.slice(0, 2)) * 60 + Number(p.to.slice(3));
      const span = to > from ? to - from : 1440 - from + to;
      for (let k = 0; k < span; k++) bandAt[(from + k) % 1440] = p.band;
    }
    const boundaries: number[] = [];
    for (let m = 1; m < 1440; m++) if (bandAt[m] !== bandAt[m - 1]) boundaries.push(m);
    return { bandAt, boundaries };
  };
  table = {
    weekdays: build('weekdays'),
    weekends: build('weekends'),
    weekendDays: new Set(c.weekendDays),
    holidays: new Set(c.holidays),
    rates: new Map(c.bands.map((b) => [b.name, b.rateMinor])),
  };
  touTables.set(c, table);
  return table;
}

const MINUTE_MS = 60_000;

/** The band of component `c` at instant `t`, and the first instant after `t` where it may change. */
function touBandAt(c: TouComponent, timeZone: string, t: number): { band: string; until: number } {
  const table = touTable(c);
  const p = wallParts(timeZone, t);
  const day = table.weekendDays.has(p.weekday) || (table.holidays.size > 0 && table.holidays.has(p.date)) ? table.weekends : table.weekdays;
  const minute = Math.floor(p.timeOfDayMs / MINUTE_MS);
  const nextBoundary = day.boundaries.find((b) => b * MINUTE_MS > p.timeOfDayMs) ?? 1440;
  const candidate = t + (nextBoundary * MINUTE_MS - p.timeOfDayMs);
  // The wall clock jumps at a DST transition: stop there and look again.
  const transition = nextTransitionAfter(timeZone, t) ?? Number.POSITIVE_INFINITY;
  return { band: day.bandAt[minute]!, until: Math.min(candidate, transition) };
}

// ---- Lines ----

/** Lines being summed: one per version, component and tier (and month, for blocks). */
class LineBook {
  private readonly lines = new Map<string, { line: Omit<PricedLine, 'quantity' | 'amountMinor' | 'from' | 'to'>; quantity: Decimal; amount: Decimal; from: number; to: number; versionIndex: number }>();

  add(
    key: string,
    versionIndex: number,
    line: Omit<PricedLine, 'quantity' | 'amountMinor' | 'from' | 'to'>,
    quantity: Decimal,
    amount: Decimal,
    from: number,
    to: number,
  ): void {
    const existing = this.lines.get(key);
    if (existing) {
      existing.quantity = existing.quantity.plus(quantity);
      existing.amount = existing.amount.plus(amount);
      existing.from = Math.min(existing.from, from);
      existing.to = Math.max(existing.to, to);
    } else {
      this.lines.set(key, { line, quantity, amount, from, to, versionIndex });
    }
  }

  ofVersion(versionIndex: number) {
    return [...this.lines.values()].filter((l) => l.versionIndex === versionIndex);
  }

  versionIndexes(): number[] {
    return [...new Set([...this.lines.values()].map((l) => l.versionIndex))];
  }

  result(): RatedCharges {
    const lines = [...this.lines.values()]
      .filter((l) => !l.quantity.isZero() || !l.amount.isZero())
      .map((l) => ({ ...l.line, from: new Date(l.from).toISOString(), to: new Date(l.to).toISOString(), quantity: str(l.quantity), amountMinor: str(l.amount) }));
    return { lines, totalMinor: str(sum(lines.map((l) => dec(l.amountMinor)))) };
  }
}

const nameOf = (c: Component) => c.name ?? c.id;

/** The version's taxes and levies, in order, over the lines it priced so far (charges, then earlier taxes). */
function applyTaxes(book: LineBook, versionIndex: number, version: TariffVersion): void {
  const versionFrom = version.effectiveFrom.toISOString();
  for (const c of version.components) {
    if (!isTax(c)) continue;
    const targets = book.ofVersion(versionIndex).filter((l) => c.appliesTo.includes(l.line.componentId));
    if (!targets.length) continue;
    const from = Math.min(...targets.map((l) => l.from));
    const to = Math.max(...targets.map((l) => l.to));
    const base = { componentId: c.id, kind: c.kind, description: nameOf(c), versionFrom };
    if (c.kind === 'percent_tax') {
      const amountBase = sum(targets.map((l) => l.amount));
      if (amountBase.isZero()) continue;
      book.add(`${versionIndex}|${c.id}`, versionIndex, { ...base, quantityUnit: 'minor', rate: c.percent }, amountBase, amountBase.times(c.percent).div(100), from, to);
    } else {
      const quantity = sum(targets.map((l) => l.quantity));
      if (quantity.isZero()) continue;
      book.add(`${versionIndex}|${c.id}`, versionIndex, { ...base, quantityUnit: 'unit', rate: c.rateMinor }, quantity, quantity.times(c.rateMinor), from, to);
    }
  }
}

// ---- Consumption ----

/**
 * The value a meter's cumulative total is taken to have at `at`, between readings `a` and `b`: linear in
 * time, quantized like the shares of an interval (so splitting an interval there changes nothing).
 */
export function interpolateReading(a: Reading, b: Reading, at: Date): string {
  const span = b.at.getTime() - a.at.getTime();
  const units = dec(b.value).minus(a.value);
  if (span <= 0) return str(dec(b.value));
  const elapsed = Math.min(Math.max(at.getTime() - a.at.getTime(), 0), span);
  return str(dec(a.value).plus(quantize(units.times(elapsed).div(span))));
}

function rateConsumptionPiece(
  book: LineBook,
  span: VersionSpan,
  c: ConsumptionComponent,
  timeZone: string,
  start: number,
  end: number,
  units: Decimal,
  monthToDateBefore: Decimal,
  monthKey: string,
  band: string | undefined,
): void {
  const versionFrom = span.version.effectiveFrom.toISOString();
  const base = { componentId: c.id, kind: c.kind, versionFrom, quantityUnit: 'unit' as const };
  if (c.kind === 'flat') {
    book.add(`${span.index}|${c.id}`, span.index, { ...base, description: nameOf(c), rate: c.rateMinor }, units, units.times(c.rateMinor), start, end);
  } else if (c.kind === 'tou') {
    if (band === undefined) band = touBandAt(c, timeZone, start).band;
    const rate = touTable(c).rates.get(band)!;
    book.add(`${span.index}|${c.id}|${band}`, span.index, { ...base, description: `${nameOf(c)} (${band})`, tier: band, rate }, units, units.times(rate), start, end);
  } else {
    let position = monthToDateBefore;
    let remaining = units;
    c.blocks.forEach((block, i) => {
      if (remaining.isZero()) return;
      const limit = block.upTo === null ? null : dec(block.upTo);
      if (limit !== null && position.gte(limit)) return;
      const take = limit === null ? remaining : minDec(remaining, limit.minus(position));
      const tier = block.name ?? `block ${i + 1}`;
      book.add(
        `${span.index}|${c.id}|${monthKey}|${i}`,
        span.index,
        { ...base, description: `${nameOf(c)} (${tier})`, tier, month: monthKey, rate: block.rateMinor },
        take,
        take.times(block.rateMinor),
        start,
        end,
      );
      position = position.plus(take);
      remaining = remaining.minus(take);
    });
  }
}

const minDec = (a: Decimal, b: Decimal) => (a.lte(b) ? a : b);

/**
 * Rate consumption between consecutive cumulative readings (at least two, in time order): every pair is an
 * interval, split and priced as the module says, and the lines of all pairs are summed by version,
 * component, block or band. `monthToDate` is the units already consumed in the local calendar month holding
 * the first reading's time, before it (inclining blocks count from there); the result says the month-to-date
 * after the last reading, to pass to the next call.
 */
export function rateReadings(versions: readonly TariffVersion[], timeZone: string, readings: readonly Reading[], monthToDate: DecimalLike = 0): RatedConsumption {
  checkOrder(versions);
  if (readings.length < 2) throw new TariffRatingError('reversed_interval', 'rating needs at least two readings');
  const book = new LineBook();
  const monthUnits = new Map<string, Decimal>([[wallParts(timeZone, readings[0]!.at.getTime()).monthKey, dec(monthToDate)]]);
  let total = ZERO;
  for (let r = 1; r < readings.length; r++) {
    const a = readings[r - 1]!;
    const b = readings[r]!;
    const from = a.at.getTime();
    const to = b.at.getTime();
    if (to < from) throw new TariffRatingError('reversed_interval', `reading at ${b.at.toISOString()} is before the one at ${a.at.toISOString()}`);
    const units = dec(b.value).minus(a.value);
    if (units.isNegative()) {
      throw new TariffRatingError('negative_consumption', `the meter's total went down from ${str(dec(a.value))} to ${str(dec(b.value))} between ${a.at.toISOString()} and ${b.at.toISOString()}`);
    }
    total = total.plus(units);
    const duration = to - from;
    // The cumulative share of the interval's units at instant t (all of them at `to`).
    const shareAt = (t: number) => (t >= to ? units : t <= from ? ZERO : quantize(units.times(t - from).div(duration)));
    for (const span of versionSpans(versions, from, to)) {
      const consumption = span.version.components.filter(isConsumption);
      const tou = consumption.filter((c): c is TouComponent => c.kind === 'tou');
      let start = span.start;
      do {
        let end = Math.min(span.end, nextMonthStart(timeZone, start));
        const bands = new Map<string, string>();
        for (const c of tou) {
          const at = touBandAt(c, timeZone, start);
          bands.set(c.id, at.band);
          end = Math.min(end, at.until);
        }
        if (end <= start && start < span.end) throw new Error(`rating made no progress at ${new Date(start).toISOString()} in ${timeZone}`);
        const pieceUnits = duration === 0 ? units : shareAt(end).minus(shareAt(start));
        const monthKey = wallParts(timeZone, start).monthKey;
        const before = monthUnits.get(monthKey) ?? ZERO;
        for (const c of consumption) rateConsumptionPiece(book, span, c, timeZone, start, end, pieceUnits, before, monthKey, bands.get(c.id));
        monthUnits.set(monthKey, before.plus(pieceUnits));
        start = end;
      } while (start < span.end);
    }
  }
  const lastAt = readings[readings.length - 1]!.at.getTime();
  for (const index of book.versionIndexes()) applyTaxes(book, index, versions[index]!);
  const lastMonth = wallParts(timeZone, lastAt).monthKey;
  return { ...book.result(), units: str(total), monthToDate: { month: lastMonth, units: str(monthUnits.get(lastMonth) ?? ZERO) } };
}

/** Rate one interval between two cumulative readings (rateReadings with two readings). */
export function rateInterval(versions: readonly TariffVersion[], timeZone: string, interval: { from: Reading; to: Reading; monthToDate?: DecimalLike }): RatedConsumption {
  return rateReadings(versions, timeZone, [interval.from, interval.to], interval.monthToDate ?? 0);
}

// ---- Fixed charges ----

/**
 * Fixed charges over [from, to), with the taxes that apply to them: a charge per day accrues over each
 * local day, a charge per month is shared equally among the days of its local month; a part of a day
 * counts as its share of that day's real length (23, 24 or 25 hours). The billing job asks for one local
 * day at a time (localDay()), which counts exactly 1 day.
 */
export function rateFixedCharges(versions: readonly TariffVersion[], timeZone: string, from: Date, to: Date): RatedCharges {
  checkOrder(versions);
  const book = new LineBook();
  const start = from.getTime();
  const stop = to.getTime();
  if (stop < start) throw new TariffRatingError('reversed_interval', `${to.toISOString()} is before ${from.toISOString()}`);
  for (let s = start; s < stop; ) {
    const day = localDay(timeZone, s);
    const e = Math.min(day.end, stop);
    const dayLength = day.end - day.start;
    // Cumulative share of the day at t: whole at its end, so a day cut in pieces still counts as 1.
    const dayShare = (t: number) => (t >= day.end ? dec(1) : quantize(dec(t - day.start).div(dayLength)));
    const p = wallParts(timeZone, day.start);
    for (const span of versionSpans(versions, s, e)) {
      const days = dayShare(span.end).minus(dayShare(span.start));
      if (days.isZero()) continue;
      for (const c of span.version.components) {
        if (c.kind !== 'fixed') continue;
        const rate = perDayRate(c, p.year, p.month);
        const monthKey = c.per === 'month' ? p.monthKey : '';
        book.add(
          `${span.index}|${c.id}|${monthKey}`,
          span.index,
          { componentId: c.id, kind: 'fixed', description: nameOf(c), versionFrom: span.version.effectiveFrom.toISOString(), quantityUnit: 'day', rate: str(rate), ...(monthKey ? { month: monthKey } : {}) },
          days,
          days.times(rate),
          span.start,
          span.end,
        );
      }
    }
    s = e;
  }
  for (const index of book.versionIndexes()) applyTaxes(book, index, versions[index]!);
  return book.result();
}

function perDayRate(c: FixedComponent, year: number, month: number): Decimal {
  return c.per === 'day' ? dec(c.amountMinor) : quantize(dec(c.amountMinor).div(daysInMonth(year, month)));
}

/**
 * What one more unit costs at `at`, taxes and levies included, for a meter that has used `monthToDate`
 * units this local month (the block it is in, the band in force): exact minor units. An ESP32 that keeps
 * its balance in units is sent money ÷ this price.
 */
export function unitPriceAt(versions: readonly TariffVersion[], timeZone: string, at: Date, monthToDate: DecimalLike = 0): string {
  return rateInterval(versions, timeZone, { from: { at, value: 0 }, to: { at, value: 1 }, monthToDate }).totalMinor;
}

/** The tariff version in effect at `at`, if any. */
export function versionAt(versions: readonly TariffVersion[], at: Date): TariffVersion | undefined {
  let found: TariffVersion | undefined;
  for (const v of versions) if (v.effectiveFrom.getTime() <= at.getTime()) found = v;
  return found;
}

export { localDay, offsetAt };
