// The balance-control policy's pure rules: friendly-credit windows and holidays and quiet hours in the
// site's time zone (worked vectors across DST changes in test/fixtures/vectors/control-windows.json), the
// settings' validation, and the effective policy with where each value came from.
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, effectivePolicy, friendlyCreditAt, policySettingsSchema, quietHoursAt, type DailyWindow, type WeeklyWindow } from '#domain/control-policy';
import { loadVectors } from '../support/vectors.ts';

interface WindowVector {
  name: string;
  kind: 'friendly' | 'quiet';
  timeZone: string;
  policy?: { friendlyCreditWindows: WeeklyWindow[]; friendlyCreditHolidays: string[] };
  quietHours?: DailyWindow | null;
  at: string;
  inside: boolean;
  endsAt?: string;
}

const vectors = loadVectors<WindowVector>('control-windows.json');

describe('friendly-credit and quiet-hour windows (vectors)', () => {
  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const t = Date.parse(v.at);
    const got = v.kind === 'friendly' ? friendlyCreditAt(v.policy!, v.timeZone, t) : quietHoursAt(v.quietHours ?? null, v.timeZone, t);
    expect({ inside: got.inside, endsAt: got.endsAt === undefined ? undefined : new Date(got.endsAt).toISOString() }).toEqual({
      inside: v.inside,
      endsAt: v.endsAt === undefined ? undefined : new Date(v.endsAt).toISOString(),
    });
  });
  it('never answers an end that is not after the instant asked about', () => {
    const policy = { friendlyCreditWindows: [{ days: 'all' as const, from: '17:00', to: '08:00' }, { days: 'weekends' as const, from: '00:00', to: '00:00' }], friendlyCreditHolidays: ['2026-11-02'] };
    for (const tz of ['Europe/London', 'America/New_York', 'Africa/Nairobi']) {
      for (let t = Date.parse('2026-10-20T00:00:00Z'); t < Date.parse('2026-11-10T00:00:00Z'); t += 17 * 60_000) {
        const a = friendlyCreditAt(policy, tz, t);
        if (a.inside) expect(a.endsAt).toBeGreaterThan(t);
        const q = quietHoursAt({ from: '21:00', to: '07:00' }, tz, t);
        if (q.inside) expect(q.endsAt).toBeGreaterThan(t);
      }
    }
  });
  it('ends a period that covers every hour at the look-ahead horizon, so the control run looks again', () => {
    const t = Date.parse('2026-06-01T12:00:00Z');
    const a = friendlyCreditAt({ friendlyCreditWindows: [{ days: 'all', from: '00:00', to: '00:00' }], friendlyCreditHolidays: [] }, 'Africa/Nairobi', t);
    expect(a.inside).toBe(true);
    expect(new Date(a.endsAt!).toISOString()).toBe('2026-06-15T21:00:00.000Z');
  });
});

describe('policy settings', () => {
  it('accepts the documented example and refuses what makes no sense, naming the field', () => {
    const ok = policySettingsSchema.safeParse({
      lowBalanceMinor: 10_000,
      warningDays: [7, 3, 1],
      friendlyCreditWindows: [{ days: 'all', from: '17:00', to: '08:00' }, { days: [6, 7], from: '00:00', to: '24:00' }],
      friendlyCreditHolidays: ['2026-12-25'],
      quietHours: { from: '21:00', to: '07:00' },
      debtRecoveryPercent: 12.5,
    });
    expect(ok.success).toBe(true);
    for (const [bad, path] of [
      [{ warningDays: [1, 3, 7] }, 'warningDays'],
      [{ lowBalanceMinor: -1 }, 'lowBalanceMinor'],
      [{ friendlyCreditWindows: [{ days: 'all', from: '25:00', to: '08:00' }] }, 'friendlyCreditWindows'],
      [{ friendlyCreditHolidays: ['2026-02-30'] }, 'friendlyCreditHolidays'],
      [{ quietHours: { from: '21:00', to: '21:00' } }, 'quietHours'],
      [{ debtRecoveryPercent: 101 }, 'debtRecoveryPercent'],
      [{ lowBalance: 5 }, ''],
    ] as const) {
      const r = policySettingsSchema.safeParse(bad);
      expect(r.success, JSON.stringify(bad)).toBe(false);
      expect(String(r.error?.issues[0]?.path[0] ?? '')).toBe(path);
    }
  });
  it('takes each setting from the account, else the site, else the built-in default, and says which', () => {
    const e = effectivePolicy({ lowBalanceMinor: 5_000, quietHours: null }, { lowBalanceMinor: 20_000, debtRecoveryPercent: 25 });
    expect(e.policy).toEqual({ ...DEFAULT_POLICY, lowBalanceMinor: 20_000, quietHours: null, debtRecoveryPercent: 25 });
    expect(e.sources).toMatchObject({ lowBalanceMinor: 'account', quietHours: 'site', debtRecoveryPercent: 'account', warningDays: 'default' });
  });
});
