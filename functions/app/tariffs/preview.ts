// The bill preview: what a meter's tariff makes of a period, from its stored readings, posting nothing.
// The period's ends are placed on the meter's cumulative curve by interpolating between the readings
// around them (where there are readings on both sides), so a preview of [from, to) covers exactly that
// time; the month-to-date that inclining blocks count from is found the same way at the local month's start.
import type { Db } from '#store/db';
import * as store from '#store/tariffs';
import {
  dec,
  interpolateReading,
  isTimeZone,
  monthStart,
  rateFixedCharges,
  rateReadings,
  roundWithCarry,
  TariffRatingError,
  type RatedCharges,
  type RatedConsumption,
  type Reading,
} from '#domain/tariff/index';
import { ValidationError } from '#shared/errors';
import { MeterNotFoundError } from '../registry/errors.ts';
import { NoTariffError, RatingRefusedError } from './errors.ts';
import { getTariff, toTariffVersion } from './tariffs.ts';

/** Most readings one preview rates (a month of 1-minute readings is 44,640). */
export const MAX_PREVIEW_READINGS = 50_000;

export interface BillPreview {
  meterId: string;
  tariff: { id: string; name: string; currency: string; source: 'meter' | 'account' | 'site' };
  timezone: string;
  /** The period asked for, and the part of it the readings and the tariff's versions cover. */
  period: { from: Date; to: Date };
  covered: { from: Date; to: Date } | null;
  readings: { first: Reading; last: Reading; count: number } | null;
  consumption: RatedConsumption | null;
  fixed: RatedCharges;
  /** Consumption plus fixed charges, exact, and rounded to whole minor units (half to even). */
  exactTotalMinor: string;
  totalMinor: number;
}

/**
 * The meter's total at `at`: interpolated between the readings around it; else the nearest reading on
 * the side that has one (`prefer`), which is then not at `at` itself.
 */
async function valueAt(db: Db, meterId: string, at: Date, prefer: 'before' | 'after'): Promise<Reading | undefined> {
  const { before, after } = await store.readingsAround(db, meterId, at);
  if (before && after) return { at, value: interpolateReading(before, after, at) };
  return prefer === 'before' ? before : after;
}

export async function previewBill(db: Db, meterId: string, from: Date, to: Date): Promise<BillPreview> {
  const [meter] = await store.meterTariffs(db, [meterId]);
  if (!meter) throw new MeterNotFoundError(meterId);
  if (!meter.tariffId || !meter.source) throw new NoTariffError(meterId);
  if (!isTimeZone(meter.timezone)) throw new ValidationError(`the meter's site has time zone ${JSON.stringify(meter.timezone)}, which is not an IANA time zone: correct the site`);
  const { tariff, versions: rows } = await getTariff(db, meter.tariffId);
  const versions = rows.map(toTariffVersion);
  // Time before the tariff's first version is not priced by it.
  const start = new Date(Math.max(from.getTime(), versions[0]!.effectiveFrom.getTime()));

  const inside = start < to ? await store.readingsBetween(db, meterId, start, to, MAX_PREVIEW_READINGS + 1) : [];
  if (inside.length > MAX_PREVIEW_READINGS) {
    throw new ValidationError(`the period holds more than ${MAX_PREVIEW_READINGS} readings: ask for a shorter one`, { maxReadings: MAX_PREVIEW_READINGS });
  }
  const first = start < to ? await valueAt(db, meterId, start, 'after') : undefined;
  const last = start < to ? await valueAt(db, meterId, to, 'before') : undefined;
  const points: Reading[] = [];
  for (const r of [first, ...inside, last]) {
    if (!r || r.at < start || r.at > to) continue;
    if (points.length && points[points.length - 1]!.at.getTime() === r.at.getTime()) continue;
    points.push(r);
  }

  let consumption: RatedConsumption | null = null;
  let fixed: RatedCharges;
  try {
    if (points.length >= 2) {
      const monthToDate = await unitsThisMonthBefore(db, meterId, meter.timezone, points[0]!);
      consumption = rateReadings(versions, meter.timezone, points, monthToDate);
    }
    fixed = start < to ? rateFixedCharges(versions, meter.timezone, start, to) : { lines: [], totalMinor: '0' };
  } catch (error) {
    if (error instanceof TariffRatingError) throw new RatingRefusedError(error.message, { code: error.code }, { cause: error });
    throw error;
  }
  const exact = dec(consumption?.totalMinor ?? 0).plus(fixed.totalMinor);
  return {
    meterId,
    tariff: { id: tariff.id, name: tariff.name, currency: tariff.currency, source: meter.source },
    timezone: meter.timezone,
    period: { from, to },
    covered: start < to ? { from: start, to } : null,
    readings: points.length >= 2 ? { first: points[0]!, last: points[points.length - 1]!, count: points.length } : null,
    consumption,
    fixed,
    exactTotalMinor: exact.toFixed(),
    totalMinor: roundWithCarry(exact).minor,
  };
}

/** Units the meter used in the local month holding `first`, before it (0 when the month starts with it). */
async function unitsThisMonthBefore(db: Db, meterId: string, timeZone: string, first: Reading): Promise<string> {
  const startOfMonth = new Date(monthStart(timeZone, first.at.getTime()));
  if (startOfMonth.getTime() >= first.at.getTime()) return '0';
  const atStart = await valueAt(db, meterId, startOfMonth, 'after');
  if (!atStart || atStart.at > first.at) return '0';
  const used = dec(first.value).minus(atStart.value);
  return used.isNegative() ? '0' : used.toFixed();
}
