// The balance-control policy's use cases: each account's effective policy (its overrides over its site's
// defaults over the built-in ones, with where each value came from), setting a site's defaults and an
// account's overrides, exempting an account from disconnection, and the arrears with debt recovery. Every
// change is audited in the transaction that makes it.
import * as z from 'zod';
import type { Logger } from '#shared/logger';
import { inTransaction, type Db } from '#store/db';
import * as store from '#store/control-policy';
import { effectivePolicy, policySettingsSchema, type EffectivePolicy, type PolicySettings } from '#domain/control-policy';
import { audit, type Actor } from '../audit.ts';
import { AccountNotFoundError, SiteNotFoundError } from '../tariffs/errors.ts';

export interface AccountPolicy extends EffectivePolicy {
  input: store.PolicyInput;
  site: PolicySettings;
  overrides: PolicySettings;
}

/** A stored document read back: written validated, so a failure here means it was edited by hand. */
function settingsOf(value: unknown, what: string, logger?: Logger): PolicySettings {
  if (value === null || value === undefined) return {};
  const parsed = policySettingsSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  logger?.warn('control policy document ignored: not valid', { what, issues: parsed.error.issues.length });
  return {};
}

/** The effective policy of each given account (one statement). */
export async function policiesOf(deps: { db: Db; logger?: Logger }, accountIds: readonly string[]): Promise<Map<string, AccountPolicy>> {
  const out = new Map<string, AccountPolicy>();
  for (const input of await store.policyInputs(deps.db, [...new Set(accountIds)])) {
    const site = settingsOf(input.site, `site ${input.siteId}`, deps.logger);
    const overrides = settingsOf(input.account, `account ${input.accountId}`, deps.logger);
    out.set(input.accountId, { input, site, overrides, ...effectivePolicy(site, overrides) });
  }
  return out;
}

export async function accountPolicy(deps: { db: Db; logger?: Logger }, accountId: string): Promise<AccountPolicy & { scheduledDisconnects: store.ScheduledDisconnect[] }> {
  const policy = (await policiesOf(deps, [accountId])).get(accountId);
  if (!policy) throw new AccountNotFoundError(accountId);
  return { ...policy, scheduledDisconnects: await store.scheduledDisconnectsOf(deps.db, accountId) };
}

export async function sitePolicy(db: Db, siteId: string) {
  const row = await store.sitePolicy(db, siteId);
  if (!row) throw new SiteNotFoundError(siteId);
  const settings = settingsOf(row.settings, `site ${siteId}`);
  return { siteId, timezone: row.timezone, settings, updatedBy: row.updatedBy, updatedAt: row.updatedAt, ...effectivePolicy(settings, null) };
}

/** Replace a site's defaults (a key left out falls back to the built-in default). */
export async function setSitePolicy(db: Db, siteId: string, settings: PolicySettings, actor: Actor) {
  await inTransaction(db, 'site control policy', async (trx) => {
    const before = await store.sitePolicy(trx, siteId);
    if (!before) throw new SiteNotFoundError(siteId);
    await store.setSitePolicy(trx, siteId, settings, actor.principal.subject);
    await audit(trx, actor.principal, actor.requestId, { action: 'site.control_policy', targetType: 'site', targetId: siteId, details: { before: before.settings ?? {}, after: settings } });
  });
  return sitePolicy(db, siteId);
}

/** Replace an account's overrides (a key left out follows the site). */
export async function setAccountPolicy(deps: { db: Db; logger?: Logger }, accountId: string, settings: PolicySettings, actor: Actor) {
  await inTransaction(deps.db, 'account control policy', async (trx) => {
    const [before] = await store.policyInputs(trx, [accountId]);
    if (!before) throw new AccountNotFoundError(accountId);
    await store.setAccountPolicy(trx, accountId, settings, actor.principal.subject);
    await audit(trx, actor.principal, actor.requestId, { action: 'account.control_policy', targetType: 'account', targetId: accountId, details: { before: before.account ?? {}, after: settings } });
  });
  return accountPolicy(deps, accountId);
}

export const exemptionInput = z.strictObject({
  exempt: z.boolean(),
  reason: z.string().trim().min(3).max(500),
});
export type ExemptionInput = z.infer<typeof exemptionInput>;

/** Exempt an account from disconnection (medical, institutional), or lift it; the reason is audited either way. */
export async function setExemption(deps: { db: Db; logger?: Logger; now: () => Date }, accountId: string, input: ExemptionInput, actor: Actor) {
  await inTransaction(deps.db, 'account exemption', async (trx) => {
    const found = await store.setExemption(trx, accountId, input.exempt ? input.reason : null, actor.principal.subject, deps.now());
    if (!found) throw new AccountNotFoundError(accountId);
    await audit(trx, actor.principal, actor.requestId, { action: input.exempt ? 'account.exempt' : 'account.exemption_lifted', targetType: 'account', targetId: accountId, details: { reason: input.reason } });
  });
  return accountPolicy(deps, accountId);
}

export const arrearsInput = z.strictObject({
  arrearsMinor: z.number().int().min(0).max(1e12),
  reason: z.string().trim().min(3).max(500),
});

/** Set an account's arrears (an admin's decision with its reason; audited). */
export async function setArrears(db: Db, accountId: string, input: z.infer<typeof arrearsInput>, actor: Actor) {
  return inTransaction(db, 'account arrears', async (trx) => {
    const [account] = await store.policyInputs(trx, [accountId]);
    if (!account) throw new AccountNotFoundError(accountId);
    const r = await store.setArrears(trx, accountId, input.arrearsMinor, input.reason, actor.principal.subject);
    await audit(trx, actor.principal, actor.requestId, { action: 'account.arrears', targetType: 'account', targetId: accountId, details: { from: account.arrearsMinor, to: input.arrearsMinor, reason: input.reason, entryId: r.entryId } });
    return r;
  });
}

export async function arrearsOf(db: Db, accountId: string, limit: number) {
  const [account] = await store.policyInputs(db, [accountId]);
  if (!account) throw new AccountNotFoundError(accountId);
  const items = await store.arrearsHistory(db, accountId, limit);
  return { accountId, arrearsMinor: account.arrearsMinor, recoveredMinor: items.filter((i) => i.entryType === 'recovery').reduce((s, i) => s - i.amountMinor, 0), items };
}

/**
 * A payment's share for the arrears (the account's debt-recovery percentage, at most the arrears), taken
 * once per payment by a debt_recovery entry. Nothing when there are no arrears or no percentage.
 */
export async function recoverDebtFromPayment(
  deps: { db: Db; logger?: Logger },
  event: { accountId: string; paymentId: string },
  /** The account's policies, when the caller has read them already. */
  known?: ReadonlyMap<string, AccountPolicy>,
): Promise<store.Recovery | undefined> {
  const policy = (known?.has(event.accountId) ? known : await policiesOf(deps, [event.accountId])).get(event.accountId);
  if (!policy || policy.input.arrearsMinor <= 0 || policy.policy.debtRecoveryPercent <= 0) return undefined;
  return store.recoverDebt(deps.db, event.paymentId, policy.policy.debtRecoveryPercent, 'debt-recovery');
}

/** How far back the catch-up looks for payments whose recovery was missed, and how many it takes per run. */
export const RECOVERY_LOOKBACK_DAYS = 7;
export const RECOVERY_CATCH_UP_LIMIT = 500;
/** A payment younger than this is left to its listener. */
const RECOVERY_GRACE_MS = 60_000;

/**
 * Debt recovery the payment listener missed (it failed, or the process died after the credit committed):
 * the payments of the last RECOVERY_LOOKBACK_DAYS to accounts with arrears that have no recovery though
 * one was due, each recovered through the same debt_recover (keyed by the payment, so a late listener or
 * a second run takes nothing more). Returns what was taken; the accounts' balances moved.
 */
export async function catchUpDebtRecovery(deps: { db: Db; logger?: Logger; now: () => Date }): Promise<{ accountId: string; paymentId: string; recoveredMinor: number }[]> {
  const now = deps.now().getTime();
  const missed = await store.unrecoveredPayments(deps.db, { since: new Date(now - RECOVERY_LOOKBACK_DAYS * 86_400_000), before: new Date(now - RECOVERY_GRACE_MS) }, RECOVERY_CATCH_UP_LIMIT);
  if (!missed.length) return [];
  const policies = await policiesOf(deps, missed.map((m) => m.accountId));
  const taken: { accountId: string; paymentId: string; recoveredMinor: number }[] = [];
  for (const m of missed) {
    const percent = policies.get(m.accountId)?.policy.debtRecoveryPercent ?? 0;
    if (percent <= 0) continue;
    const r = await store.recoverDebt(deps.db, m.paymentId, percent, 'debt-recovery:catch-up');
    if (r.created) taken.push({ accountId: m.accountId, paymentId: m.paymentId, recoveredMinor: r.recoveredMinor });
  }
  if (taken.length) deps.logger?.warn('debt recovery caught up for payments their listener missed', { payments: taken.length });
  return taken;
}
