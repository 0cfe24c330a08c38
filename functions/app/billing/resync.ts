// ESP32 balance resync: a meter that comes back online is sent its current balance (it may have missed
// updates while offline), and a balance report that disagrees with the ledger beyond the tolerance is
// recorded as a discrepancy for operators and answered with the correct balance (the ledger is the truth).
// Both reuse balance control's push (control.ts pushBalances). Debounced: at most one reconnect push and
// one discrepancy push per meter per window (ESP32_RESYNC_DEBOUNCE_S; the command's idempotency key names
// the window), so a flapping meter does not get a flood.
import type { CommandDeps } from '../commands/ports.ts';
import * as store from '#store/billing';
import { esp32Targets, expectedBalances, pushBalances } from './control.ts';

export interface ResyncSettings {
  /** At most one resync push per meter per this many seconds (ESP32_RESYNC_DEBOUNCE_S, default 300). */
  debounceS: number;
}

export interface DiscrepancySettings extends ResyncSettings {
  /** A report is off when |reported − expected| > max(percent % of |expected|, absolute) (BALANCE_TOLERANCE_PERCENT, BALANCE_TOLERANCE_ABSOLUTE). */
  tolerancePercent: number;
  toleranceAbsolute: number;
}

export const DEFAULT_RESYNC: DiscrepancySettings = { debounceS: 300, tolerancePercent: 1, toleranceAbsolute: 1 };

const windowOf = (deps: CommandDeps, debounceS: number) => Math.floor(deps.now().getTime() / (Math.max(1, debounceS) * 1000));
// Reconnect pushes and discrepancy pushes are debounced apart: a meter back online and then reporting a
// wrong balance in the same window gets both.
const resyncKey = (window: string, meterId: string) => `resync:${window}:${meterId}`;

export type ResyncOutcome = 'pushed' | 'debounced' | 'not_esp32' | 'unknown_meter' | 'refused';

/** A meter came back online (its connect event, or its first message after a silence): push its balance. */
export async function resyncOnReconnect(deps: CommandDeps, meterNo: string, settings: ResyncSettings = DEFAULT_RESYNC): Promise<ResyncOutcome> {
  const [meter] = await store.metersByNumber(deps.db, [meterNo]);
  if (!meter) return 'unknown_meter';
  if (!meter.accountId) return 'not_esp32';
  const window = `r${windowOf(deps, settings.debounceS)}`;
  // The command's key is balance:{trigger key}: look before asking, so a repeat sends nothing again.
  if (await store.commandKeyExists(deps.db, `balance:${resyncKey(window, meter.meterId)}`)) return 'debounced';
  const targets = await esp32Targets(deps, [meter.accountId], [meter.meterId]);
  if (!targets.length) return 'not_esp32';
  const { commands, report } = await pushBalances(deps, targets, { kind: 'resync', ref: window });
  if (commands.has(meter.meterId)) {
    deps.logger.info('ESP32 back online: balance pushed', { meterNo, commandId: commands.get(meter.meterId) });
    return 'pushed';
  }
  deps.logger.warn('ESP32 back online: balance not pushed', { meterNo, refused: report.refused });
  return 'refused';
}

export interface BalanceReport {
  meterId: string | null;
  balance: number;
  time: string | Date;
}

/**
 * Compare ESP32 balance reports with the ledger: each meter's latest report in the batch against what it
 * should hold now. A difference beyond the tolerance is recorded (once per report) and the correct balance
 * is pushed again (debounced). Returns the discrepancies recorded.
 */
export async function checkBalanceReports(deps: CommandDeps, reports: readonly BalanceReport[], settings: DiscrepancySettings = DEFAULT_RESYNC): Promise<store.NewDiscrepancy[]> {
  const latest = new Map<string, BalanceReport>();
  for (const r of reports) {
    if (!r.meterId || !Number.isFinite(r.balance)) continue;
    const seen = latest.get(r.meterId);
    if (!seen || new Date(r.time).getTime() >= new Date(seen.time).getTime()) latest.set(r.meterId, r);
  }
  if (!latest.size) return [];
  const accounts = await store.accountsOfMeters(deps.db, [...latest.keys()]);
  const targets = await esp32Targets(deps, [...accounts.values()], [...latest.keys()]);
  const expected = await expectedBalances(deps, targets);
  const recorded: store.NewDiscrepancy[] = [];
  const window = `d${windowOf(deps, settings.debounceS)}`;
  for (const t of targets) {
    const e = expected.get(t.meterId);
    const report = latest.get(t.meterId);
    if (!e || 'refused' in e || !report) continue;
    const difference = round6(report.balance - e.balance);
    const tolerance = round6(Math.max((Math.abs(e.balance) * settings.tolerancePercent) / 100, settings.toleranceAbsolute));
    if (Math.abs(difference) <= tolerance) continue;
    const d: store.NewDiscrepancy = { meterId: t.meterId, accountId: t.accountId, unit: e.unit, reported: report.balance, expected: e.balance, difference, tolerance, reportedAt: new Date(report.time) };
    const id = await store.recordDiscrepancy(deps.db, d);
    if (!id) continue;
    recorded.push(d);
    deps.logger.warn('ESP32 balance disagrees with the ledger', { meterNo: t.meterNo, reported: d.reported, expected: d.expected, unit: d.unit });
    if (await store.commandKeyExists(deps.db, `balance:${resyncKey(window, t.meterId)}`)) continue;
    const { commands } = await pushBalances(deps, [t], { kind: 'resync', ref: window });
    const commandId = commands.get(t.meterId);
    if (commandId) await store.setDiscrepancyResync(deps.db, id, commandId);
  }
  return recorded;
}

const round6 = (n: number) => Math.round(n * 1e6) / 1e6;
