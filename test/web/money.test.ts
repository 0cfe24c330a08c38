// The portal's money parsing for the tariff forms: currency units typed by an operator become the API's
// decimal strings of minor units exactly (no floating point), and back for a form prefilled from a version.
import { describe, expect, it } from 'vitest';
import { majorText, toMinor, toMinorText } from '../../web/src/money.ts';

describe('tariff amounts in the portal', () => {
  it('turns currency units into minor units exactly, finer than a cent too', () => {
    expect(toMinorText('16.55')).toBe('1655');
    expect(toMinorText(' 150 ')).toBe('15000');
    expect(toMinorText('16.545')).toBe('1654.5');
    expect(toMinorText('0.0001')).toBe('0.01');
    expect(toMinorText('0.10')).toBe('10');
    expect(toMinorText('0')).toBe('0');
    expect(toMinorText('1.10000')).toBe('110');
    // Integer minor units agree with the payment forms' parser where both apply.
    for (const typed of ['1', '99.99', '1234.5', '0.07']) expect(Number(toMinorText(typed))).toBe(toMinor(typed));
  });

  it('refuses what is not an amount', () => {
    for (const typed of ['', '17,20', '-1', '1.', '.5', '1e3', 'KES 10', '1.123456789']) expect(toMinorText(typed), typed).toBeUndefined();
  });

  it('shows stored minor units as currency units, and reads them back unchanged', () => {
    expect(majorText('1654.5')).toBe('16.545');
    expect(majorText('15000')).toBe('150.00');
    expect(majorText('7')).toBe('0.07');
    expect(majorText(0)).toBe('0.00');
    for (const stored of ['1654.5', '15000', '7', '0.01', '123456789.123456']) expect(toMinorText(majorText(stored))).toBe(stored);
  });
});
