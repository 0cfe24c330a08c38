// Exact decimal arithmetic for tariffs: decimal.js (arbitrary-precision base-10, so 0.1 + 0.2 is 0.3 and a
// rate of 16.54 is 16.54), one private configuration so no other user of the library changes ours.
// Sums and products of tariff values are exact at this precision; the only inexact steps (sharing
// consumption out by time, a monthly charge per day, part of a day) are quantized to QUANTUM_DP places
// and always leave the remainder to the last share, so nothing is created or lost by them.
import DecimalJs from 'decimal.js';

export const Decimal = DecimalJs.clone({ precision: 60, rounding: DecimalJs.ROUND_HALF_EVEN, toExpNeg: -30, toExpPos: 40 });
export type Decimal = InstanceType<typeof Decimal>;
export type DecimalLike = Decimal | string | number;

/** Decimal places kept by the inexact steps (time shares of units, per-day amounts, fractions of days). */
export const QUANTUM_DP = 9;

export const dec = (value: DecimalLike): Decimal => new Decimal(value);
export const ZERO = new Decimal(0);

/** Rounded to QUANTUM_DP places, half to even. */
export const quantize = (value: Decimal): Decimal => value.toDecimalPlaces(QUANTUM_DP, Decimal.ROUND_HALF_EVEN);

/** A decimal as a plain string (never exponent notation), as stored and sent. */
export const str = (value: Decimal): string => value.toFixed();

export const sum = (values: Iterable<Decimal>): Decimal => {
  let total = ZERO;
  for (const v of values) total = total.plus(v);
  return total;
};
