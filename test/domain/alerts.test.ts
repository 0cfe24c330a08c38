// Balance alert states and the SMS templates (one GSM-7 message each).
import { describe, expect, it } from 'vitest';
import { alertLevelOf, alertStateOf, formatMoney, renderSms } from '#domain/alerts';

const policy = { lowBalanceMinor: 10_000, warningDays: [7, 3, 1], emergencyCreditMinor: 0 };

describe('alertStateOf', () => {
  it('moves ok → low → critical → exhausted as the balance falls', () => {
    expect(alertStateOf(100_000, 1_000, policy)).toBe('ok');
    expect(alertStateOf(10_000, 1_000, policy)).toBe('low'); // at the money threshold
    expect(alertStateOf(20_000, 7_000, policy)).toBe('low'); // under 3 days left
    expect(alertStateOf(1_000, 1_000, policy)).toBe('critical'); // a day left
    expect(alertStateOf(0, 1_000, policy)).toBe('exhausted');
    expect(alertStateOf(-1, 0, policy)).toBe('exhausted');
  });
  it('counts days only when there was spend', () => {
    expect(alertStateOf(20_000, 0, policy)).toBe('ok');
  });
  it('climbs one rung per warning day reached (7, 3, 1), the money threshold being the first, then exhausted', () => {
    const spend = 1_000;
    const rungs = [800_000, 7_000, 3_001, 3_000, 1_500, 1_000, 0].map((b) => alertLevelOf(b, spend, { ...policy, lowBalanceMinor: 0 }));
    expect(rungs.map((l) => [l.state, l.rung])).toEqual([['ok', 0], ['low', 1], ['low', 1], ['low', 2], ['low', 2], ['critical', 3], ['exhausted', 4]]);
    // No spend yet: only the money threshold warns.
    expect(alertLevelOf(10_000, 0, policy)).toMatchObject({ state: 'low', rung: 1 });
    expect(alertLevelOf(10_001, 0, policy)).toMatchObject({ state: 'ok', rung: 0 });
  });
  it('is exhausted only once the emergency credit is used up', () => {
    const withCredit = { ...policy, emergencyCreditMinor: 500 };
    expect(alertLevelOf(0, 1_000, withCredit)).toMatchObject({ state: 'critical', rung: 3 });
    expect(alertLevelOf(-499, 1_000, withCredit).state).toBe('critical');
    expect(alertLevelOf(-500, 1_000, withCredit).state).toBe('exhausted');
  });
});

describe('renderSms', () => {
  it('fits every template in 160 characters with a long account number and a large amount', () => {
    const base = { accountNo: 'ABCDEFGHIJKLMNOPQRST', currency: 'KES', balanceMinor: -123_456_789_00 };
    for (const t of [
      { ...base, template: 'payment_received' as const, amountMinor: 999_999_999_99 },
      { ...base, template: 'low_balance' as const, days: 2.7 },
      { ...base, template: 'disconnected' as const },
      { ...base, template: 'reconnected' as const },
      { ...base, template: 'credit_exhausted' as const, disconnectAtWallMs: Date.parse('2027-12-29T23:59:00Z') },
    ]) {
      const text = renderSms(t);
      expect(text.length).toBeLessThanOrEqual(160);
    }
    expect(renderSms({ template: 'low_balance', accountNo: 'QA1', currency: 'KES', balanceMinor: 2_050, days: 2.7 })).toBe(
      'Quantify: account QA1 balance is low: KES 20.50, about 2 day(s) left. Top up by M-Pesa to avoid disconnection.',
    );
  });
  it('tells an exhausted account inside friendly-credit hours when (site wall clock) it will be disconnected', () => {
    // Monday 2027-03-29 08:00 in Europe/London (BST) is 07:00Z; the wall clock is passed as its parts.
    const text = renderSms({ template: 'credit_exhausted', accountNo: 'QA1', currency: 'KES', balanceMinor: -50, disconnectAtWallMs: Date.parse('2027-03-29T08:00:00Z') });
    expect(text).toBe('Quantify: account QA1 is out of credit (balance -KES 0.50). Supply will be disconnected on Mon 29 Mar at 08:00 unless you top up.');
  });
  it('formats money in major units', () => {
    expect(formatMoney(123_456, 'KES')).toBe('KES 1,234.56');
    expect(formatMoney(-5, 'KES')).toBe('-KES 0.05');
  });
});
