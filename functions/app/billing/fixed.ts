// Fixed charges: one entry per account per local day (the site's time zone), keyed fixed:{accountId}:{date}.
// A tariff's fixed components are charged per meter: each prepaid meter on the account at the start of a
// local day pays that day's fixed charges (per day, or its day's share of a per-month charge) of the tariff
// that prices it, with the taxes that apply to them; the account's entry sums its meters (their lines are
// in the entry's detail) and is rounded with the account's carried remainder. A meter that joins mid-day
// starts the next day; one that leaves mid-day pays that whole day. A day is charged from its start (in
// advance, as prepaid standing charges are), so every run charges the days from where the account stopped
// through today: days missed while the job did not run are caught up (at most CATCH_UP_DAYS back).
// Set-based: one read and one posting statement per chunk of accounts, never one per account.
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import * as store from '#store/billing';
import { versionsOf } from '#store/tariffs';
import { dec, localDay, rateFixedCharges, roundWithCarry, type PricedLine, type TariffVersion } from '#domain/tariff/index';
import { toTariffVersion } from '#app/tariffs/tariffs';

/** Accounts per read (bounded further by FIXED_CHUNK_METERS). */
export const FIXED_CHUNK_ACCOUNTS = 1000;
/** Meters per chunk (~150 bytes of detail each per day: far inside the Data API's 1 MiB responses and 4 MiB requests). */
export const FIXED_CHUNK_METERS = 2000;
/** How far back a run charges days not charged yet (an account never charged starts where its meters joined, at most this far back). */
export const CATCH_UP_DAYS = 31;
const DAY_MS = 86_400_000;

export interface FixedTotals {
  accounts: number;
  entriesPosted: number;
  amountMinor: number;
  stale: number;
}

interface MeterDay {
  meterId: string;
  meterNo: string;
  tariffId: string;
  amountMinor: string;
}

/**
 * Charge every account's due days through today (`now` in its time zone). `onBalance` hears each account
 * whose balance moved, with its balance after its last entry.
 */
export async function chargeFixed(
  deps: { db: Db; logger: Logger },
  runId: string,
  options: { now: Date; tariffs: Map<string, TariffVersion[]>; maxAccounts?: number; maxMeters?: number },
  onBalance: (accountId: string, balanceAfterMinor: number) => void,
): Promise<FixedTotals> {
  const totals: FixedTotals = { accounts: 0, entriesPosted: 0, amountMinor: 0, stale: 0 };
  const since = new Date(options.now.getTime() - (CATCH_UP_DAYS + 1) * DAY_MS);
  const rated = new Map<string, { totalMinor: string; lines: PricedLine[] } | null>();
  const stale = new Set<string>();
  const maxMeters = options.maxMeters ?? FIXED_CHUNK_METERS;
  const accountsCap = options.maxAccounts ?? FIXED_CHUNK_ACCOUNTS;
  // Accounts per read follow the meters per account seen so far, so a read asks for about maxMeters meters.
  let maxAccounts = Math.min(accountsCap, 100);
  let after: string | null = null;
  for (;;) {
    const chunk = await store.fixedChargeAccounts(deps.db, { afterAccountId: after, now: options.now, since, maxAccounts, maxMeters });
    if (!chunk.lastAccountId) break;
    after = chunk.lastAccountId;
    const meters = chunk.accounts.reduce((n, a) => n + a.meterCount, 0);
    maxAccounts = Math.max(1, Math.min(accountsCap, Math.floor(maxMeters / Math.max(1, meters / chunk.accounts.length))));
    const due = chunk.accounts.filter((a) => a.due);
    if (!due.length) continue;
    const missing = [...new Set(due.flatMap((a) => a.memberships.map((m) => m.tariffId)).filter((t): t is string => t !== null && !options.tariffs.has(t)))];
    if (missing.length) {
      for (const id of missing) options.tariffs.set(id, []);
      for (const row of await versionsOf(deps.db, missing)) options.tariffs.get(row.tariff_id)!.push(toTariffVersion(row));
    }
    const moves: store.FixedAccountMove[] = [];
    const items: store.FixedItem[] = [];
    for (const account of due) {
      const charged = chargeAccount(account, options.now, options.tariffs, rated);
      moves.push(charged.move);
      items.push(...charged.items);
    }
    const amounts = new Map(items.map((i) => [i.idempotencyKey, i.amountMinor]));
    for (const outcome of await store.applyFixedCharges(deps.db, runId, moves, items)) {
      if (outcome.outcome === 'stale') {
        stale.add(outcome.accountId);
        continue;
      }
      if (outcome.outcome === 'posted') {
        totals.entriesPosted++;
        totals.amountMinor += amounts.get(fixedKey(outcome.accountId, outcome.localDate!)) ?? 0;
      }
      if (outcome.balanceAfterMinor !== null) onBalance(outcome.accountId, outcome.balanceAfterMinor);
    }
    totals.accounts += due.length;
  }
  totals.stale = stale.size;
  if (totals.stale) deps.logger.info('fixed charges: accounts moved by another run were left to it', { runId, accounts: totals.stale });
  return totals;
}

export const fixedKey = (accountId: string, localDate: string) => `fixed:${accountId}:${localDate}`;

/** The local day after `date` (YYYY-MM-DD). */
const nextDate = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);

/** The local days of one account to charge now, its entries and where its state moves. */
export function chargeAccount(
  account: store.FixedAccount,
  now: Date,
  tariffs: Map<string, TariffVersion[]>,
  rated: Map<string, { totalMinor: string; lines: PricedLine[] } | null> = new Map(),
): { move: store.FixedAccountMove; items: store.FixedItem[] } {
  const tz = account.timezone;
  const today = localDay(tz, now.getTime());
  const earliest = localDay(tz, now.getTime() - CATCH_UP_DAYS * DAY_MS).date;
  // Never charged: from the first day a meter was on the account at its start.
  let first = account.nextDate;
  if (!first) {
    const joins = account.memberships.map((m) => {
      const day = localDay(tz, m.from.getTime());
      return day.start === m.from.getTime() ? day.date : nextDate(day.date);
    });
    first = joins.length ? joins.reduce((a, b) => (a < b ? a : b)) : nextDate(today.date);
  }
  if (first < earliest) first = earliest;
  const items: store.FixedItem[] = [];
  let carry = account.carry;
  const date = first;
  // The local day `date`: found from today backwards by whole days (a local day is 23 to 25 hours).
  let day = today;
  while (day.date > date) day = localDay(tz, day.start - 1);
  while (day.date < date) day = localDay(tz, day.end);
  while (day.date <= today.date) {
    const meters: MeterDay[] = [];
    const lines = new Map<string, { componentId: string; description: string; quantity: ReturnType<typeof dec>; amount: ReturnType<typeof dec> }>();
    let exact = dec(0);
    const onAtStart = new Map<string, store.FixedMembership>();
    for (const m of account.memberships) {
      if (m.tariffId && m.from.getTime() <= day.start && (m.to === null || m.to.getTime() > day.start)) onAtStart.set(m.meterId, m);
    }
    for (const m of onAtStart.values()) {
      const charges = ratedDay(m.tariffId!, tz, day, tariffs, rated);
      if (!charges || dec(charges.totalMinor).isZero()) continue;
      meters.push({ meterId: m.meterId, meterNo: m.meterNo, tariffId: m.tariffId!, amountMinor: charges.totalMinor });
      exact = exact.plus(charges.totalMinor);
      for (const l of charges.lines) {
        const key = `${l.componentId}|${l.description}`;
        const line = lines.get(key) ?? { componentId: l.componentId, description: l.description, quantity: dec(0), amount: dec(0) };
        line.quantity = line.quantity.plus(l.quantity);
        line.amount = line.amount.plus(l.amountMinor);
        lines.set(key, line);
      }
    }
    if (!exact.isZero()) {
      const rounded = roundWithCarry(exact, carry);
      carry = rounded.carry;
      if (rounded.minor > 0) {
        const names = [...new Set([...lines.values()].map((l) => l.description))].join(', ');
        items.push({
          accountId: account.accountId,
          localDate: day.date,
          amountMinor: rounded.minor,
          idempotencyKey: fixedKey(account.accountId, day.date),
          sourceRef: `billing-fixed:${account.accountId}:${day.date}`,
          description: `Fixed charges ${day.date} (${names}), ${meters.length} meter${meters.length === 1 ? '' : 's'}`.slice(0, 500),
          detail: {
            timezone: tz,
            meters,
            lines: [...lines.values()].map((l) => ({ componentId: l.componentId, description: l.description, quantity: l.quantity.toString(), amountMinor: l.amount.toString() })),
            exactMinor: exact.toString(),
          },
        });
      }
    }
    day = localDay(tz, day.end);
  }
  return { move: { accountId: account.accountId, expectedNextDate: account.nextDate ?? null, nextDate: day.date, carry }, items };
}

/**
 * One meter-day's fixed charges by a tariff (the same for every meter on it: rated once per run). A
 * version starting mid-day charges from its start; a day before the tariff's first version charges nothing.
 */
function ratedDay(
  tariffId: string,
  tz: string,
  day: { date: string; start: number; end: number },
  tariffs: Map<string, TariffVersion[]>,
  rated: Map<string, { totalMinor: string; lines: PricedLine[] } | null>,
): { totalMinor: string; lines: PricedLine[] } | null {
  const key = `${tariffId}|${tz}|${day.date}`;
  if (rated.has(key)) return rated.get(key)!;
  const versions = tariffs.get(tariffId) ?? [];
  const first = versions[0];
  let result: { totalMinor: string; lines: PricedLine[] } | null = null;
  if (first && first.effectiveFrom.getTime() < day.end) {
    const from = Math.max(day.start, first.effectiveFrom.getTime());
    result = rateFixedCharges(versions, tz, new Date(from), new Date(day.end));
  }
  rated.set(key, result);
  return result;
}
