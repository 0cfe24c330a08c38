// Money as the portal shows it: integer minor units in, "KES 1,234.50" out (two decimals for every
// currency the platform takes today).
export const money = (minor: number | null | undefined, currency = 'KES'): string =>
  minor === null || minor === undefined
    ? '—'
    : `${currency} ${(minor / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** Whole currency units typed by an operator ("150" or "150.50") as minor units, or undefined. */
export function toMinor(text: string): number | undefined {
  const m = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}
