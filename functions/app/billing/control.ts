// Balance-driven control: after billing moves balances and after a payment credits one, each account's
// meters are switched by the command queue that already exists (requestRelay: registry checks, audit,
// idempotency key), and ESP32 meters are sent their new balance.
// - At or below -emergency credit (0: at zero), unless the account is exempt: relay_off with reason
//   credit_exhausted for each LoRaWAN relay meter — never while the meter's latest relay command is a
//   relay_off that is open or done (so never two open disconnects), keyed by the account's latest credit
//   and the meter's latest relay command, so two runs at once queue one.
// - Above the reconnect threshold (default 0): a credit_exhausted disconnect still pending is cancelled;
//   one that was sent (or a meter that is off) gets relay_on.
// - ESP32 meters that keep a balance: a balance command with the balance in currency (major units) or,
//   when the device's config says balanceIn 'units' (the seed's firmware), in units: money ÷ the unit
//   price in effect now, taxes included (unitPriceAt).
import type { Principal } from '#domain/roles';
import { dec, unitPriceAt, wallParts } from '#domain/tariff/index';
import * as store from '#store/billing';
import { meterTariffs, versionsOf } from '#store/tariffs';
import type { CommandDeps } from '../commands/ports.ts';
import { cancelCommand, requestBalanceUpdate, requestRelay } from '../commands/requests.ts';
import { CommandNotCancellableError, RelayNotPossibleError, BalanceNotPossibleError } from '../commands/errors.ts';
import { toTariffVersion } from '../tariffs/tariffs.ts';
import { drainNotifications, notifyReconnected, updateAlerts, type SmsSender } from '../notifications/notifications.ts';

/** The command system's deps, and where SMS go (none: they wait in the outbox). */
export type ControlDeps = CommandDeps & { sms?: SmsSender | undefined };

export const CREDIT_EXHAUSTED = 'credit_exhausted';
export const CREDIT_RESTORED = 'credit_restored';
const system: Principal = { subject: 'system:billing', roles: ['admin'] };

/** Why balance control is looking: a billing run or a payment (its id keys the ESP32 balance command). */
export interface ControlTrigger {
  /** resync: a meter came back online or reported a balance the ledger disagrees with (resync.ts). */
  kind: 'billing' | 'payment' | 'resync';
  ref: string;
}

export interface ControlReport {
  disconnects: string[];
  reconnects: string[];
  cancelled: string[];
  balanceUpdates: string[];
  refused: { meterId: string; reason: string }[];
}

const done = new Set(['pending', 'queued', 'sent', 'confirmed']);
const waiting = new Set(['pending', 'queued']);

export type ControlAction =
  | { kind: 'disconnect'; key: string }
  | { kind: 'cancel'; commandId: string }
  | { kind: 'reconnect'; key: string }
  | { kind: 'none' };

/** What balance control does to one meter (pure). */
export function relayDecision(t: store.ControlTarget): ControlAction[] {
  const last = t.lastRelay;
  const lorawanRelay = t.deviceKind === 'lorawan' && t.capabilities?.['relay'] === true;
  if (!lorawanRelay) return [{ kind: 'none' }];
  if (t.balanceMinor <= -t.emergencyCreditMinor) {
    if (t.exemptReason) return [{ kind: 'none' }];
    if (last && last.type === 'relay_off' && done.has(last.status)) return [{ kind: 'none' }];
    return [{ kind: 'disconnect', key: `credit-off:${t.meterId}:${t.lastCreditEntryId ?? 0}:${last?.id ?? 'none'}` }];
  }
  if (t.balanceMinor > t.reconnectThresholdMinor && last && last.type === 'relay_off' && last.reason === CREDIT_EXHAUSTED) {
    if (waiting.has(last.status)) return [{ kind: 'cancel', commandId: last.id }, { kind: 'reconnect', key: `credit-on:${t.meterId}:${last.id}` }];
    if (last.status === 'sent' || last.status === 'confirmed' || t.relayState === 'off') return [{ kind: 'reconnect', key: `credit-on:${t.meterId}:${last.id}` }];
  }
  return [{ kind: 'none' }];
}

/** Apply balance control to the given accounts (their current balances are read again). */
export async function controlAccounts(deps: ControlDeps, accountIds: readonly string[], trigger: ControlTrigger): Promise<ControlReport> {
  const report: ControlReport = { disconnects: [], reconnects: [], cancelled: [], balanceUpdates: [], refused: [] };
  const targets = await store.controlTargets(deps.db, [...new Set(accountIds)]);
  const actor = { principal: system, requestId: `${trigger.kind}:${trigger.ref}` };
  for (const t of targets) {
    for (const action of relayDecision(t)) {
      try {
        if (action.kind === 'cancel') {
          try {
            await cancelCommand(deps, action.commandId, 'credit restored before the disconnect was sent', actor);
            report.cancelled.push(t.meterId);
            // Nothing was switched off: no reconnect needed.
            break;
          } catch (error) {
            // Being sent right now: reconnect after it.
            if (!(error instanceof CommandNotCancellableError)) throw error;
          }
        } else if (action.kind === 'disconnect' || action.kind === 'reconnect') {
          const off = action.kind === 'disconnect';
          await requestRelay(deps, t.meterId, { action: off ? 'off' : 'on', reason: off ? CREDIT_EXHAUSTED : CREDIT_RESTORED, priority: off ? 5 : 7, idempotencyKey: action.key }, actor);
          (off ? report.disconnects : report.reconnects).push(t.meterId);
          if (!off) await notifyReconnected(deps, t.accountId, `${t.accountId}:${trigger.ref}`);
        }
      } catch (error) {
        if (!(error instanceof RelayNotPossibleError)) throw error;
        report.refused.push({ meterId: t.meterId, reason: error.message });
      }
    }
  }
  await sendBalances(deps, targets.filter((t) => t.deviceKind === 'esp32' && t.capabilities?.['balance'] === true), trigger, report);
  await updateAlerts(deps, [...new Set(accountIds)], `${trigger.kind}:${trigger.ref}`);
  if (deps.sms) await drainNotifications({ ...deps, sms: deps.sms });
  if (report.disconnects.length || report.reconnects.length || report.cancelled.length || report.refused.length) {
    deps.logger.info('balance control', { trigger: trigger.kind, ref: trigger.ref, ...report });
  }
  return report;
}

/** What an ESP32 meter should hold now: its account's balance in currency (major units), or in units. */
export type ExpectedBalance = { balance: number; unit: 'currency' | 'units' } | { refused: string };

/**
 * The balance each ESP32 target should hold now: currency (major units), or, when its device config says
 * balanceIn 'units', money ÷ the unit price in effect now, taxes included (unitPriceAt).
 */
export async function expectedBalances(deps: CommandDeps, targets: readonly store.ControlTarget[]): Promise<Map<string, ExpectedBalance>> {
  const result = new Map<string, ExpectedBalance>();
  if (!targets.length) return result;
  const inUnits = targets.filter((t) => t.deviceConfig?.['balanceIn'] === 'units');
  const tariffs = new Map((await meterTariffs(deps.db, inUnits.map((t) => t.meterId))).map((r) => [r.meterId, r]));
  const versions = await versionsOf(deps.db, [...new Set([...tariffs.values()].map((r) => r.tariffId).filter((id): id is string => id !== null))]);
  const now = deps.now();
  for (const t of targets) {
    if (t.deviceConfig?.['balanceIn'] !== 'units') {
      result.set(t.meterId, { balance: t.balanceMinor / 100, unit: 'currency' });
      continue;
    }
    const mt = tariffs.get(t.meterId);
    const own = versions.filter((v) => v.tariff_id === mt?.tariffId).map(toTariffVersion);
    if (!mt || !own.length) {
      result.set(t.meterId, { refused: 'balance in units needs a tariff to price a unit' });
      continue;
    }
    const state = await store.monthToDate(deps.db, t.meterId);
    const month = wallParts(mt.timezone, now.getTime()).monthKey;
    const price = dec(unitPriceAt(own, mt.timezone, now, state && state.monthKey === month ? state.units : 0));
    result.set(t.meterId, { balance: price.isZero() ? 0 : Number(dec(t.balanceMinor).div(price).toDecimalPlaces(3).toString()), unit: 'units' });
  }
  return result;
}

async function sendBalances(deps: CommandDeps, targets: store.ControlTarget[], trigger: ControlTrigger, report: ControlReport, commands?: Map<string, string>): Promise<void> {
  if (!targets.length) return;
  const expected = await expectedBalances(deps, targets);
  for (const t of targets) {
    const e = expected.get(t.meterId)!;
    if ('refused' in e) {
      report.refused.push({ meterId: t.meterId, reason: e.refused });
      continue;
    }
    try {
      const command = await requestBalanceUpdate(deps, { meterId: t.meterId, balance: e.balance, idempotencyKey: `${trigger.kind}:${trigger.ref}:${t.meterId}`, reason: `balance after ${trigger.kind}` });
      commands?.set(t.meterId, command.id);
      report.balanceUpdates.push(t.meterId);
    } catch (error) {
      if (!(error instanceof BalanceNotPossibleError)) throw error;
      report.refused.push({ meterId: t.meterId, reason: error.message });
    }
  }
}

/** The ESP32 meters (of these accounts) that keep a balance, with what balance control knows of them. */
export async function esp32Targets(deps: CommandDeps, accountIds: readonly string[], meterIds: readonly string[]): Promise<store.ControlTarget[]> {
  const wanted = new Set(meterIds);
  return (await store.controlTargets(deps.db, [...new Set(accountIds)])).filter((t) => wanted.has(t.meterId) && t.deviceKind === 'esp32' && t.capabilities?.['balance'] === true);
}

/**
 * Send these ESP32 meters their current balance again (a reconnect, a discrepancy): the balance push of
 * balance control alone, no relay or alert decisions. Returns the balance command per meter sent one.
 */
export async function pushBalances(deps: CommandDeps, targets: store.ControlTarget[], trigger: ControlTrigger): Promise<{ commands: Map<string, string>; report: ControlReport }> {
  const report: ControlReport = { disconnects: [], reconnects: [], cancelled: [], balanceUpdates: [], refused: [] };
  const commands = new Map<string, string>();
  await sendBalances(deps, targets, trigger, report, commands);
  return { commands, report };
}
