// Local time in a site's IANA time zone, from the platform's own Intl (full ICU in Node): the offset at an
// instant, the wall-clock parts of an instant, and the instants where the wall clock reaches a given
// local time. Each zone's offset transitions are found once per year (sampled every 6 hours, then the
// exact millisecond by bisection) and cached, so rating a meter's interval never formats a date.
// Assumes what the tz database holds for the years billed: at most one transition in any 6 hours.

export class TimeZoneError extends Error {
  override name = 'TimeZoneError';
  constructor(readonly timeZone: string) {
    super(`${JSON.stringify(timeZone)} is not an IANA time zone this platform knows`);
  }
}

const DAY_MS = 86_400_000;
const SAMPLE_MS = 6 * 3_600_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new TimeZoneError(timeZone);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** UTC offset in ms at `t`, asked of Intl (whole seconds: the zone's wall clock has no milliseconds). */
function intlOffset(timeZone: string, t: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(t))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(t / 1000) * 1000;
}

interface Transition {
  at: number;
  offsetBefore: number;
  offsetAfter: number;
}
interface YearRules {
  startOffset: number;
  transitions: Transition[];
}

const rulesCache = new Map<string, Map<number, YearRules>>();

function yearRules(timeZone: string, year: number): YearRules {
  let years = rulesCache.get(timeZone);
  if (!years) {
    years = new Map();
    rulesCache.set(timeZone, years);
  }
  let rules = years.get(year);
  if (rules) return rules;
  const start = Date.UTC(year, 0, 1);
  const end = Date.UTC(year + 1, 0, 1);
  const startOffset = intlOffset(timeZone, start);
  const transitions: Transition[] = [];
  let prevT = start;
  let prevO = startOffset;
  for (let t = Math.min(start + SAMPLE_MS, end); ; t = Math.min(t + SAMPLE_MS, end)) {
    const o = intlOffset(timeZone, t);
    if (o !== prevO) {
      // The first millisecond with the new offset lies in (prevT, t].
      let lo = prevT;
      let hi = t;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (intlOffset(timeZone, mid) === prevO) lo = mid;
        else hi = mid;
      }
      if (hi < end) transitions.push({ at: hi, offsetBefore: prevO, offsetAfter: o });
      prevO = o;
    }
    prevT = t;
    if (t >= end) break;
  }
  rules = { startOffset, transitions };
  years.set(year, rules);
  return rules;
}

const yearOf = (t: number) => new Date(t).getUTCFullYear();

/** The zone's UTC offset in ms at instant `t` (ms since the epoch). */
export function offsetAt(timeZone: string, t: number): number {
  const rules = yearRules(timeZone, yearOf(t));
  if (!rules.transitions.length) return rules.startOffset;
  let offset = rules.startOffset;
  for (const tr of rules.transitions) {
    if (tr.at > t) break;
    offset = tr.offsetAfter;
  }
  return offset;
}

/** The first offset transition strictly after `t` (looked for in its year and the next). */
export function nextTransitionAfter(timeZone: string, t: number): number | undefined {
  const year = yearOf(t);
  for (const y of [year, year + 1]) {
    const found = yearRules(timeZone, y).transitions.find((tr) => tr.at > t);
    if (found) return found.at;
  }
  return undefined;
}

export interface WallParts {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  /** ISO weekday: 1 Monday … 7 Sunday. */
  weekday: number;
  /** Milliseconds since local midnight on the wall clock. */
  timeOfDayMs: number;
  /** The wall clock as if it were UTC: Date.UTC(year, month - 1, day, h, m, s, ms). */
  wallMs: number;
  /** `YYYY-MM-DD` */
  readonly date: string;
  /** `YYYY-MM` */
  readonly monthKey: string;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The wall-clock reading of instant `t` in the zone. */
export function wallParts(timeZone: string, t: number): WallParts {
  const wallMs = t + offsetAt(timeZone, t);
  const d = new Date(wallMs);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth() + 1;
  const day = d.getUTCDate();
  // The text keys are made only when asked for: rating a meter's interval rarely needs them.
  return {
    year,
    month,
    day,
    weekday: d.getUTCDay() === 0 ? 7 : d.getUTCDay(),
    timeOfDayMs: ((wallMs % DAY_MS) + DAY_MS) % DAY_MS,
    wallMs,
    get monthKey() {
      return `${pad(year, 4)}-${pad(month)}`;
    },
    get date() {
      return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
    },
  };
}

/**
 * The first instant after `t` at which the wall clock reads `targetWallMs` or later (given that it reads
 * less at `t`). Where the target falls in a gap (clocks forward) that is the transition; where it is
 * repeated (clocks back) its first occurrence after `t`.
 */
export function nextWallCrossing(timeZone: string, t: number, targetWallMs: number): number {
  let cur = t;
  for (;;) {
    const candidate = targetWallMs - offsetAt(timeZone, cur);
    const transition = nextTransitionAfter(timeZone, cur);
    if (transition === undefined || candidate < transition) return Math.max(candidate, cur);
    cur = transition;
    if (cur + offsetAt(timeZone, cur) >= targetWallMs) return cur;
  }
}

/** The first instant whose wall clock reads `wallMs` or later (the start of a local day or month). */
export function instantOfWall(timeZone: string, wallMs: number): number {
  // Offsets lie within -12 h … +14 h: 15 h before the wall time the clock is surely behind it.
  return nextWallCrossing(timeZone, wallMs - 15 * 3_600_000, wallMs);
}

/** The local day holding `t`: [start, end) instants and its date. A day is 23, 24 or 25 hours long. */
export function localDay(timeZone: string, t: number): { date: string; start: number; end: number } {
  const p = wallParts(timeZone, t);
  const startWall = Date.UTC(p.year, p.month - 1, p.day);
  return { date: p.date, start: instantOfWall(timeZone, startWall), end: instantOfWall(timeZone, startWall + DAY_MS) };
}

/** The start of the local month after the one holding `t`. */
export function nextMonthStart(timeZone: string, t: number): number {
  const p = wallParts(timeZone, t);
  return nextWallCrossing(timeZone, t, Date.UTC(p.year, p.month, 1));
}

/** The start of the local month holding `t`. */
export function monthStart(timeZone: string, t: number): number {
  const p = wallParts(timeZone, t);
  return instantOfWall(timeZone, Date.UTC(p.year, p.month - 1, 1));
}

export const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();
