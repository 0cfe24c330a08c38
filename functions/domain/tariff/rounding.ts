// Whole minor units for the ledger: each entry of a meter is its exact amount plus the remainder carried
// from the meter's previous entry, rounded half to even; what rounding leaves is carried to the next entry.
// So over any run of entries Σ rounded + carry out = Σ exact + carry in, exactly: rounding never creates
// or loses money, and the carry stays within ±0.5 minor units.
import { Decimal, dec, str, type DecimalLike } from './decimal.ts';

export interface RoundedEntry {
  /** Whole minor units to post. */
  minor: number;
  /** The remainder to carry into the meter's next entry (a decimal string, |carry| ≤ 0.5). */
  carry: string;
}

export function roundWithCarry(exactMinor: DecimalLike, carryIn: DecimalLike = 0): RoundedEntry {
  const due = dec(exactMinor).plus(carryIn);
  const rounded = due.toDecimalPlaces(0, Decimal.ROUND_HALF_EVEN);
  const minor = rounded.toNumber();
  if (!Number.isSafeInteger(minor)) throw new RangeError(`${str(rounded)} minor units is beyond what an entry can hold`);
  return { minor, carry: str(due.minus(rounded)) };
}

/** Several entries of one meter in order, each rounded with the carry of the one before. */
export function roundAllWithCarry(exactMinors: readonly DecimalLike[], carryIn: DecimalLike = 0): { minors: number[]; carry: string } {
  const minors: number[] = [];
  let carry: DecimalLike = carryIn;
  for (const exact of exactMinors) {
    const entry = roundWithCarry(exact, carry);
    minors.push(entry.minor);
    carry = entry.carry;
  }
  return { minors, carry: str(dec(carry)) };
}
