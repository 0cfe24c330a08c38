// Balance-driven control: after billing moves balances, after a payment (or an admin's credit) credits one, and when a disconnect
// scheduled for the end of friendly-credit hours comes due, each account's meters are switched by the
// command queue that already exists (requestRelay: registry checks, audit, idempotency key), and ESP32
// meters are sent their new balance. The thresholds and windows are the account's effective policy
// (policy.ts: account overrides, else its site's defaults, else the built-in ones).
// - At or below -emergency credit (0: at zero), unless the account is exempt: relay_off with reason
//   credit_exhausted for each LoRaWAN relay meter — never while the meter's latest relay command is a
//   relay_off that is open or done (so never two open disconnects), keyed by the account's latest credit
//   and the meter's latest relay command, so two runs at once queue one. Inside friendly-credit hours (a
//   weekly window or a holiday, in the site's time zone) the disconnect is scheduled for their end instead
//   (one open per meter); the run after it is due issues it, unless the balance recovered first.
// - Above the reconnect threshold (default 0): a credit_exhausted disconnect still pending is cancelled;
//   one that was sent (or a meter that is off) gets relay_on; a scheduled one is cancelled.
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
import { friendlyCreditAt, type ControlPolicy, type WindowAnswer } from '#domain/control-policy';
import { closeScheduledDisconnect, scheduleDisconnect } from '#store/control-policy';
import { policiesOf, type AccountPolicy } from './policy.ts';

/** The command system's deps, and where SMS go (none: they wait in the outbox). */
export type ControlDeps = CommandDeps & { sms?: SmsSender | undefined };

export const CREDIT_EXHAUSTED = 'credit_exhausted';
export const CREDIT_RESTORED = 'credit_restored';
const system: Principal = { subject: 'system:billing', roles: ['admin'] };

/** Why balance control is looking: a billing run, a payment (its id keys the ESP32 balance command), or a scheduled disconnect now due. */
export interface ControlTrigger {
  /** schedule: a disconnect scheduled for the end of friendly-credit hours is due; resync: a meter came back online or reported a balance the ledger disagrees with (resync.ts). */
  /** adjustment: an admin's credit (a top-up like a payment: it re-arms the warnings). */
  kind: 'billing' | 'payment' | 'adjustment' | 'schedule' | 'resync';
  ref: string;
}

export interface ControlReport {
  disconnects: string[];
  /** Meters whose disconnect was scheduled for the end of friendly-credit hours. */
  scheduled: string[];
  reconnects: string[];
  cancelled: string[];
  balanceUpdates: string[];
  refused: { meterId: string; reason: string }[];
}

const done = new Set(['pending', 'queued', 'sent', 'confirmed']);
const waiting = new Set(['pending', 'queued']);

export type ControlAction =
  | { kind: 'disconnect'; key: string; scheduledId?: string }
  | { kind: 'schedule'; dueAt: Date }
  | { kind: 'unschedule'; scheduledId: string; reason: string }
  | { kind: 'cancel'; commandId: string }
  | { kind: 'reconnect'; key: string }
  | { kind: 'none' };

/** What the account's policy says right now: its thresholds, and whether friendly-credit hours are on. */
export interface ControlContext {
  policy: Pick<ControlPolicy, 'emergencyCreditMinor' | 'reconnectThresholdMinor'>;
  friendly: WindowAnswer;
}

/** What balance control does to one meter (pure). */
export function relayDecision(t: store.ControlTarget, ctx: ControlContext): ControlAction[] {
  const last = t.lastRelay;
  const lorawanRelay = t.deviceKind === 'lorawan' && t.capabilities?.['relay'] === true;
  if (!lorawanRelay) return [{ kind: 'none' }];
  const scheduled = t.scheduled;
  if (t.balanceMinor <= -ctx.policy.emergencyCreditMinor) {
    if (t.exemptReason) return scheduled ? [{ kind: 'unschedule', scheduledId: scheduled.id, reason: `account exempt: ${t.exemptReason}` }] : [{ kind: 'none' }];
    if (last && last.type === 'relay_off' && done.has(last.status)) return scheduled ? [{ kind: 'unschedule', scheduledId: scheduled.id, reason: 'the meter is already being disconnected' }] : [{ kind: 'none' }];
    if (ctx.friendly.inside && ctx.friendly.endsAt !== undefined) return scheduled ? [{ kind: 'none' }] : [{ kind: 'schedule', dueAt: new Date(ctx.friendly.endsAt) }];
    const key = `credit-off:${t.meterId}:${t.lastCreditEntryId ?? 0}:${last?.id ?? 'none'}`;
    return [scheduled ? { kind: 'disconnect', key, scheduledId: scheduled.id } : { kind: 'disconnect', key }];
  }
  // Credit again (a payment, or the emergency allowance raised): a disconnect still waiting is not due.
  const actions: ControlAction[] = scheduled ? [{ kind: 'unschedule', scheduledId: scheduled.id, reason: 'credit restored before the end of friendly-credit hours' }] : [];
  if (t.balanceMinor > ctx.policy.reconnectThresholdMinor && last && last.type === 'relay_off' && last.reason === CREDIT_EXHAUSTED) {
    if (waiting.has(last.status)) return [...actions, { kind: 'cancel', commandId: last.id }, { kind: 'reconnect', key: `credit-on:${t.meterId}:${last.id}` }];
    if (last.status === 'sent' || last.status === 'confirmed' || t.relayState === 'off') return [...actions, { kind: 'reconnect', key: `credit-on:${t.meterId}:${last.id}` }];
  }
  return actions.length ? actions : [{ kind: 'none' }];
}

const emptyReport = (): ControlReport => ({ disconnects: [], scheduled: [], reconnects: [], cancelled: [], balanceUpdates: [], refused: [] });

/** Apply balance control to the given accounts (their current balances are read again). */
export async function controlAccounts(
  deps: ControlDeps,
  accountIds: readonly string[],
  trigger: ControlTrigger,
  /** The accounts' policies when the caller has just read them (and changed nothing they hold since). */
  known?: ReadonlyMap<string, AccountPolicy>,
): Promise<ControlReport> {
  const report = emptyReport();
  const ids = [...new Set(accountIds)];
  const [targets, policies] = await Promise.all([
    store.controlTargets(deps.db, ids),
    known && ids.every((id) => known.has(id)) ? known : policiesOf(deps, ids),
  ]);
  const actor = { principal: system, requestId: `${trigger.kind}:${trigger.ref}` };
  const now = deps.now().getTime();
  for (const t of targets) {
    const policy = policies.get(t.accountId);
    if (!policy) continue;
    const ctx: ControlContext = { policy: policy.policy, friendly: friendlyCreditAt(policy.policy, policy.input.timezone, now) };
    for (const action of relayDecision(t, ctx)) {
      try {
        if (action.kind === 'schedule') {
          if (await scheduleDisconnect(deps.db, { accountId: t.accountId, meterId: t.meterId, dueAt: action.dueAt, reason: 'credit exhausted inside friendly-credit hours' })) report.scheduled.push(t.meterId);
        } else if (action.kind === 'unschedule') {
          await closeScheduledDisconnect(deps.db, action.scheduledId, { status: 'cancelled', reason: action.reason });
        } else if (action.kind === 'cancel') {
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
          const { command } = await requestRelay(deps, t.meterId, { action: off ? 'off' : 'on', reason: off ? CREDIT_EXHAUSTED : CREDIT_RESTORED, priority: off ? 5 : 7, idempotencyKey: action.key }, actor);
          if (action.kind === 'disconnect' && action.scheduledId) await closeScheduledDisconnect(deps.db, action.scheduledId, { status: 'issued', commandId: command.id });
          (off ? report.disconnects : report.reconnects).push(t.meterId);
          if (!off) await notifyReconnected(deps, t.accountId, `${t.accountId}:${trigger.ref}`);
        }
      } catch (error) {
        if (!(error instanceof RelayNotPossibleError)) throw error;
        report.refused.push({ meterId: t.meterId, reason: error.message });
      }
    }
  }
  // A due disconnect moved no balance: the meters' balances stand.
  if (trigger.kind !== 'schedule') await sendBalances(deps, targets.filter((t) => t.deviceKind === 'esp32' && t.capabilities?.['balance'] === true), trigger, report);
  // Only a top-up (a payment, an admin's credit) re-arms the warnings (the ladder climbs down); billing only climbs it.
  // The same policies: nothing above changes what they hold (settings, exemption, arrears).
  await updateAlerts(deps, ids, `${trigger.kind}:${trigger.ref}`, { rearm: trigger.kind === 'payment' || trigger.kind === 'adjustment', policies });
  if (deps.sms) await drainNotifications({ ...deps, sms: deps.sms });
  if (report.disconnects.length || report.scheduled.length || report.reconnects.length || report.cancelled.length || report.refused.length) {
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
  const report = emptyReport();
  const commands = new Map<string, string>();
  await sendBalances(deps, targets, trigger, report, commands);
  return { commands, report };
}
