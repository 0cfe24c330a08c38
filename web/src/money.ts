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

/**
 * Currency units typed for a tariff ("16.55", or "16.545" for a rate finer than a cent) as the API's decimal
 * string of minor units ("1655", "1654.5"), shifted exactly (no floating point); undefined if not a number.
 */
export function toMinorText(text: string): string | undefined {
  const m = /^\s*(\d{1,10})(?:\.(\d{1,8}))?\s*$/.exec(text);
  if (!m) return undefined;
  const fraction = (m[2] ?? '').padEnd(2, '0');
  const whole = `${m[1]}${fraction.slice(0, 2)}`.replace(/^0+(?=\d)/, '');
  const rest = fraction.slice(2).replace(/0+$/, '');
  return rest ? `${whole}.${rest}` : whole;
}

/** The reverse of toMinorText: a decimal string (or number) of minor units as currency units ("1654.5" → "16.545"). */
export function majorText(minor: unknown): string {
  const [whole = '0', fraction = ''] = String(minor).split('.');
  const padded = whole.padStart(3, '0');
  return `${padded.slice(0, -2).replace(/^0+(?=\d)/, '')}.${padded.slice(-2)}${fraction}`;
}
