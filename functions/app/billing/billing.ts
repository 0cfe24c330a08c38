// The billing job: each prepaid meter with an account is billed from its last billed cumulative reading to
// its latest one, by the tariff that prices it (meter, else account, else site default), rounded to whole
// minor units with the remainder carried to the meter's next entry. One consumption entry per meter per run,
// keyed by meter + reading range; billing_apply posts a chunk and moves its meters' state in one statement,
// so a second run, or two runs at once, adds nothing. Reads and writes are set-based: two statements per
// chunk (plus the tariff versions the chunk needs for the first time), never one per meter. Then the fixed
// charges: one entry per account per local day (fixed.ts).
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import * as store from '#store/billing';
import { versionsOf } from '#store/tariffs';
import { dec, rateReadings, roundWithCarry, TariffRatingError, wallParts, type TariffVersion } from '#domain/tariff/index';
import { toTariffVersion } from '#app/tariffs/tariffs';
import { chargeFixed } from './fixed.ts';

/** Meters per chunk: one read and one posting statement each (~200 bytes per item: far inside the Data API's 4 MiB). */
export const BILLING_CHUNK = 1000;
/** How many meter ids each skip reason names in a run's report. */
const SAMPLE = 50;

export interface BillingDeps {
  db: Db;
  logger: Logger;
}

export interface BillingOptions {
  trigger: 'schedule' | 'manual';
  requestedBy?: string | null;
  chunkSize?: number;
  /** The run's clock (fixed charges are due through its local day); default now. */
  now?: Date;
}

/** An account whose balance a run moved: its balance after the run's last entry for it. */
export interface BalanceChange {
  accountId: string;
  balanceAfterMinor: number;
}

export interface BillingResult {
  run: store.BillingRun;
  balances: BalanceChange[];
  /** Where the run's time went (milliseconds): reading chunks, rating, posting. */
  timings: { readMs: number; rateMs: number; postMs: number; fixedMs: number };
}

type SkipReason = 'no_account' | 'no_tariff' | 'no_reading' | 'negative_consumption' | 'rating_failed' | 'stale';

class Report implements store.RunTotals {
  metersSeen = 0;
  metersBilled = 0;
  entriesPosted = 0;
  amountMinor = 0;
  fixedEntriesPosted = 0;
  fixedAmountMinor = 0;
  skipped: store.SkippedReport = {};
  skip(reason: SkipReason, meterId: string): void {
    const entry = (this.skipped[reason] ??= { count: 0, meters: [] });
    entry.count++;
    if (entry.meters.length < SAMPLE) entry.meters.push(meterId);
  }
}

/** Run the billing job once over every prepaid meter; the run is recorded in billing_runs either way. */
export async function runBilling(deps: BillingDeps, options: BillingOptions): Promise<BillingResult> {
  const run = await store.startRun(deps.db, options.trigger, options.requestedBy ?? null);
  const report = new Report();
  const balances = new Map<string, number>();
  const tariffs = new Map<string, TariffVersion[]>();
  const chunkSize = options.chunkSize ?? BILLING_CHUNK;
  const timings = { readMs: 0, rateMs: 0, postMs: 0, fixedMs: 0 };
  let mark = performance.now();
  const lap = (key: keyof typeof timings) => {
    const t = performance.now();
    timings[key] += t - mark;
    mark = t;
  };
  try {
    let after: string | null = null;
    for (;;) {
      mark = performance.now();
      const meters = await store.billableMeters(deps.db, after, chunkSize);
      if (!meters.length) break;
      after = meters[meters.length - 1]!.meterId;
      report.metersSeen += meters.length;
      const missing = [...new Set(meters.map((m) => m.tariffId).filter((t): t is string => t !== null && !tariffs.has(t)))];
      if (missing.length) {
        for (const row of await versionsOf(deps.db, missing)) {
          const list = tariffs.get(row.tariff_id) ?? [];
          list.push(toTariffVersion(row));
          tariffs.set(row.tariff_id, list);
        }
      }
      lap('readMs');
      const items: store.BillingItem[] = [];
      for (const meter of meters) {
        const item = billingItem(meter, tariffs, report);
        if (item) items.push(item);
      }
      const amounts = new Map(items.map((i) => [i.meterId, i.amountMinor]));
      lap('rateMs');
      const outcomes = await store.applyBilling(deps.db, run.id, items);
      lap('postMs');
      for (const outcome of outcomes) {
        if (outcome.outcome === 'stale') {
          report.skip('stale', outcome.meterId);
          continue;
        }
        if (outcome.outcome === 'posted') {
          report.metersBilled++;
          report.entriesPosted++;
          report.amountMinor += amounts.get(outcome.meterId) ?? 0;
        }
        if (outcome.balanceAfterMinor !== null) balances.set(outcome.accountId, outcome.balanceAfterMinor);
      }
    }
    // Then each account's fixed charges for the local days due (after its consumption: its balance moves last here).
    mark = performance.now();
    const fixed = await chargeFixed(deps, run.id, { now: options.now ?? new Date(), tariffs }, (accountId, balance) => balances.set(accountId, balance));
    report.fixedEntriesPosted = fixed.entriesPosted;
    report.fixedAmountMinor = fixed.amountMinor;
    lap('fixedMs');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    deps.logger.error('billing run failed', { runId: run.id, error: message });
    const failed = await store.finishRun(deps.db, run.id, report, message);
    return { run: failed, timings, balances: [...balances].map(([accountId, balanceAfterMinor]) => ({ accountId, balanceAfterMinor })) };
  }
  const done = await store.finishRun(deps.db, run.id, report, null);
  deps.logger.info('billing run', { runId: run.id, meters: done.metersSeen, entries: done.entriesPosted, amountMinor: done.amountMinor, fixedEntries: done.fixedEntriesPosted, fixedAmountMinor: done.fixedAmountMinor, skipped: Object.fromEntries(Object.entries(done.skipped).map(([k, v]) => [k, v.count])) });
  return { run: done, timings, balances: [...balances].map(([accountId, balanceAfterMinor]) => ({ accountId, balanceAfterMinor })) };
}

/** What one meter owes since it was last billed, or why it is not billed (recorded in the report). */
function billingItem(meter: store.BillableMeter, tariffs: Map<string, TariffVersion[]>, report: Report): store.BillingItem | undefined {
  if (!meter.accountId) {
    report.skip('no_account', meter.meterId);
    return undefined;
  }
  const from = meter.state ?? meter.baseline;
  const to = meter.latest;
  if (!from || !to) {
    report.skip('no_reading', meter.meterId);
    return undefined;
  }
  // Nothing newer than what was billed (a late reading older than it changes nothing: values are cumulative).
  if (meter.state && (to.readingId === meter.state.readingId || to.at.getTime() < meter.state.at.getTime())) return undefined;
  if (dec(to.value).lessThan(from.value)) {
    report.skip('negative_consumption', meter.meterId);
    return undefined;
  }
  if (!meter.tariffId) {
    report.skip('no_tariff', meter.meterId);
    return undefined;
  }
  const versions = tariffs.get(meter.tariffId) ?? [];
  const fromMonth = wallParts(meter.timezone, from.at.getTime()).monthKey;
  const monthToDate = meter.state && meter.state.monthKey === fromMonth ? meter.state.monthUnits : '0';
  let rated;
  try {
    rated = rateReadings(versions, meter.timezone, [{ at: from.at, value: from.value }, { at: to.at, value: to.value }], monthToDate);
  } catch (error) {
    if (!(error instanceof TariffRatingError)) throw error;
    report.skip('rating_failed', meter.meterId);
    return undefined;
  }
  const rounded = roundWithCarry(rated.totalMinor, meter.state?.carry ?? '0');
  const range = `${meter.meterId}:${from.readingId}-${to.readingId}`;
  return {
    meterId: meter.meterId,
    accountId: meter.accountId,
    expectedReadingId: meter.state?.readingId ?? null,
    toReadingId: to.readingId,
    toValue: to.value,
    toAt: to.at.toISOString(),
    carry: rounded.carry,
    monthKey: rated.monthToDate.month,
    monthUnits: rated.monthToDate.units,
    amountMinor: rounded.minor,
    idempotencyKey: `consumption:${range}`,
    sourceRef: `billing:${range}`,
    description: `${meter.meterNo} ${rated.units} ${meter.unit} ${from.at.toISOString()} – ${to.at.toISOString()}`,
  };
}
