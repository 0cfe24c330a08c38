// The balance-control policy: its settings (site defaults, per-account overrides, built-in defaults), the
// effective policy with where each value came from, and the local-time windows it is made of (friendly-
// credit hours and holidays, quiet hours for SMS) evaluated in the site's IANA time zone. Pure; local time
// comes from the tariff's zone helpers, so a window is DST-correct the same way a time-of-use band is.
import * as z from 'zod';
import { instantOfWall, nextWallCrossing, wallParts } from './tariff/zone.ts';

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** `HH:MM` local wall-clock time; `24:00` is the end of the day. */
const clockTime = z
  .string()
  .regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be a local time HH:MM (00:00 to 24:00)');
const isoWeekday = z.number().int().min(1).max(7);
const weekdays = z.union([z.enum(['weekdays', 'weekends', 'all']), z.array(isoWeekday).min(1).max(7)]);
const localDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a local date YYYY-MM-DD')
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), 'must be a real date');

/**
 * A weekly window: it starts on each of `days` at `from` and ends at `to` the same day, or the next day when
 * `to` is not after `from` (17:00–08:00 is an evening and the night after it; 00:00–00:00 a whole day).
 */
export const weeklyWindowSchema = z.strictObject({ days: weekdays, from: clockTime, to: clockTime });
export type WeeklyWindow = z.infer<typeof weeklyWindowSchema>;

/** A daily window (quiet hours): from `from` to `to`, across midnight when `to` is not after `from`. */
export const dailyWindowSchema = z
  .strictObject({ from: clockTime, to: clockTime })
  .refine((w) => w.from !== w.to, { message: 'quiet hours cannot cover the whole day', path: ['to'] });
export type DailyWindow = z.infer<typeof dailyWindowSchema>;

const minor = z.number().int().min(0).max(1e12);

/** Every setting, each optional: a site's defaults and an account's overrides are both this shape. */
export const policySettingsSchema = z.strictObject({
  lowBalanceMinor: minor.optional(),
  warningDays: z
    .array(z.number().positive().max(60))
    .min(1)
    .max(5)
    .refine((d) => d.every((v, i) => i === 0 || v < d[i - 1]!), 'must be strictly descending, e.g. [7, 3, 1]')
    .optional(),
  emergencyCreditMinor: minor.optional(),
  reconnectThresholdMinor: minor.optional(),
  friendlyCreditWindows: z.array(weeklyWindowSchema).max(20).optional(),
  friendlyCreditHolidays: z.array(localDate).max(366).optional(),
  quietHours: dailyWindowSchema.nullable().optional(),
  debtRecoveryPercent: z.number().min(0).max(100).multipleOf(0.01).optional(),
});
export type PolicySettings = z.infer<typeof policySettingsSchema>;
export type PolicyKey = keyof PolicySettings;

export interface ControlPolicy {
  lowBalanceMinor: number;
  warningDays: number[];
  emergencyCreditMinor: number;
  reconnectThresholdMinor: number;
  friendlyCreditWindows: WeeklyWindow[];
  friendlyCreditHolidays: string[];
  quietHours: DailyWindow | null;
  debtRecoveryPercent: number;
}

/** The built-in defaults (README "Balance control" explains each). */
export const DEFAULT_POLICY: ControlPolicy = {
  lowBalanceMinor: 0,
  warningDays: [7, 3, 1],
  emergencyCreditMinor: 0,
  reconnectThresholdMinor: 0,
  friendlyCreditWindows: [],
  friendlyCreditHolidays: [],
  quietHours: { from: '21:00', to: '07:00' },
  debtRecoveryPercent: 0,
};

export const policyKeys = Object.keys(DEFAULT_POLICY) as (keyof ControlPolicy)[];
export type PolicySource = 'default' | 'site' | 'account';

export interface EffectivePolicy {
  policy: ControlPolicy;
  sources: Record<keyof ControlPolicy, PolicySource>;
}

/** The account's value of each setting, else its site's, else the built-in default. */
export function effectivePolicy(site: PolicySettings | null | undefined, account: PolicySettings | null | undefined): EffectivePolicy {
  const policy = { ...DEFAULT_POLICY } as Record<keyof ControlPolicy, unknown>;
  const sources = {} as Record<keyof ControlPolicy, PolicySource>;
  for (const key of policyKeys) {
    sources[key] = 'default';
    if (site?.[key] !== undefined) {
      policy[key] = site[key];
      sources[key] = 'site';
    }
    if (account?.[key] !== undefined) {
      policy[key] = account[key];
      sources[key] = 'account';
    }
  }
  return { policy: policy as unknown as ControlPolicy, sources };
}

// ---- Windows in local time ----

const minutesOf = (t: string): number => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));

function dayList(days: WeeklyWindow['days']): number[] {
  if (days === 'all') return [1, 2, 3, 4, 5, 6, 7];
  if (days === 'weekdays') return [1, 2, 3, 4, 5];
  if (days === 'weekends') return [6, 7];
  return days;
}

/** [start, end) in wall-clock ms (the wall clock read as if it were UTC). */
type WallInterval = [number, number];

/** A window's wall interval starting on the local day whose midnight (wall ms) is `dayWall`. */
function windowOn(dayWall: number, from: string, to: string): WallInterval {
  const start = dayWall + minutesOf(from) * MINUTE_MS;
  let end = dayWall + minutesOf(to) * MINUTE_MS;
  if (end <= start) end += DAY_MS;
  return [start, end];
}

function merged(intervals: WallInterval[]): WallInterval[] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: WallInterval[] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** How far ahead a run of back-to-back windows is followed: a friendly period ends within this. */
export const MAX_FRIENDLY_DAYS = 14;

export interface WindowAnswer {
  inside: boolean;
  /** When inside: the instant (ms) the window, with any that adjoin it, ends. */
  endsAt?: number;
}

function answer(timeZone: string, intervals: WallInterval[], t: number): WindowAnswer {
  const wall = wallParts(timeZone, t).wallMs;
  const hit = merged(intervals).find(([s, e]) => s <= wall && wall < e);
  // The first instant after t whose wall clock reaches the end (in a repeated hour, its second pass).
  return hit ? { inside: true, endsAt: nextWallCrossing(timeZone, t, hit[1]) } : { inside: false };
}

function localMidnight(timeZone: string, t: number): number {
  const p = wallParts(timeZone, t);
  return Date.UTC(p.year, p.month - 1, p.day);
}

/**
 * Is `t` inside friendly-credit hours (a weekly window or a listed holiday, a whole local day), and if so
 * when do they end? Windows that touch or overlap are one period (Friday 17:00 to Monday 08:00), followed
 * at most MAX_FRIENDLY_DAYS ahead. Times are the site's wall clock: a window ending at 08:00 ends at 08:00
 * local on the day of a DST change too; one ending inside the skipped hour ends when the clocks jump.
 */
export function friendlyCreditAt(policy: Pick<ControlPolicy, 'friendlyCreditWindows' | 'friendlyCreditHolidays'>, timeZone: string, t: number): WindowAnswer {
  if (!policy.friendlyCreditWindows.length && !policy.friendlyCreditHolidays.length) return { inside: false };
  const today = localMidnight(timeZone, t);
  const holidays = new Set(policy.friendlyCreditHolidays);
  const intervals: WallInterval[] = [];
  // A window that started up to a day before may still be open; chains are followed MAX_FRIENDLY_DAYS on.
  for (let d = -1; d <= MAX_FRIENDLY_DAYS; d++) {
    const dayWall = today + d * DAY_MS;
    const day = new Date(dayWall);
    const weekday = day.getUTCDay() === 0 ? 7 : day.getUTCDay();
    if (holidays.has(day.toISOString().slice(0, 10))) intervals.push([dayWall, dayWall + DAY_MS]);
    for (const w of policy.friendlyCreditWindows) if (dayList(w.days).includes(weekday)) intervals.push(windowOn(dayWall, w.from, w.to));
  }
  const found = answer(timeZone, intervals, t);
  // A period that runs past the horizon ends there (the next control run looks again).
  const horizon = instantOfWall(timeZone, today + (MAX_FRIENDLY_DAYS + 1) * DAY_MS);
  return found.inside && found.endsAt !== undefined && found.endsAt > horizon ? { inside: true, endsAt: horizon } : found;
}

/** Is `t` inside the daily quiet hours, and if so when do they end? */
export function quietHoursAt(quiet: DailyWindow | null, timeZone: string, t: number): WindowAnswer {
  if (!quiet) return { inside: false };
  const today = localMidnight(timeZone, t);
  return answer(timeZone, [windowOn(today - DAY_MS, quiet.from, quiet.to), windowOn(today, quiet.from, quiet.to)], t);
}
