// Tariff management as use cases: create a tariff with its first version, add versions (never edit one),
// list and read them, assign them to a meter, an account or a site's default per meter type (audited, in
// the transaction that makes the change), and resolve the tariff that prices a meter.
import * as z from 'zod';
import { inTransaction, type Db, type Executor } from '#store/db';
import * as registry from '#store/registry';
import type { MeterType, Tariff, TariffVersionRow } from '#store/schema';
import * as store from '#store/tariffs';
import { formatIssues } from '#domain/issues';
import { componentsSchema, tariffVersionInput, type TariffVersion } from '#domain/tariff/index';
import { audit, type Actor } from '../audit.ts';
import { MeterNotFoundError } from '../registry/errors.ts';
import {
  AccountNotFoundError,
  SiteNotFoundError,
  StoredTariffInvalidError,
  TariffMismatchError,
  TariffNotFoundError,
  TariffVersionOrderError,
} from './errors.ts';

export const meterTypeSchema = z.enum(['electricity', 'water']);

export const tariffInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  meterType: meterTypeSchema,
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code like KES'),
  /** A tariff of one site (only its meters and its defaults may use it); none = any site. */
  siteId: z.string().uuid().optional(),
  description: z.string().trim().max(1000).optional(),
  /** The first version. */
  version: tariffVersionInput,
});
export type TariffInput = z.infer<typeof tariffInput>;

export { tariffVersionInput };
export type VersionInput = z.infer<typeof tariffVersionInput>;

export interface TariffWithVersions {
  tariff: Tariff;
  versions: TariffVersionRow[];
}

/** A stored version as the rating functions take it, checked again against the domain's schema. */
export function toTariffVersion(row: TariffVersionRow): TariffVersion {
  const parsed = componentsSchema.safeParse(row.components);
  if (!parsed.success) {
    throw new StoredTariffInvalidError(`tariff ${row.tariff_id} version ${row.version} is not valid: ${formatIssues(parsed.error)}`);
  }
  return { effectiveFrom: row.effective_from, components: parsed.data };
}

export async function createTariff(db: Db, input: TariffInput, actor: Actor): Promise<TariffWithVersions> {
  return inTransaction(db, `tariff ${input.name}`, async (trx) => {
    if (input.siteId && !(await store.siteOf(trx, input.siteId))) throw new SiteNotFoundError(input.siteId);
    const tariff = await store.insertTariff(trx, {
      name: input.name,
      meter_type: input.meterType,
      currency: input.currency,
      site_id: input.siteId ?? null,
      description: input.description ?? null,
      created_by: actor.principal.subject,
    });
    const version = await store.insertTariffVersion(trx, {
      tariff_id: tariff.id,
      version: 1,
      effective_from: input.version.effectiveFrom,
      components: input.version.components,
      note: input.version.note ?? null,
      created_by: actor.principal.subject,
    });
    await audit(trx, actor.principal, actor.requestId, { action: 'tariff.create', targetType: 'tariff', targetId: tariff.id, details: input });
    return { tariff, versions: [version] };
  });
}

/**
 * A new version, taking over from its effectiveFrom: after the latest version's, and not in the past (a
 * version never reprices time already billed). The tariff's row is locked, so concurrent additions queue.
 */
export async function addTariffVersion(db: Db, tariffId: string, input: VersionInput, actor: Actor, now: Date): Promise<TariffVersionRow> {
  return inTransaction(db, `tariff ${tariffId} version`, async (trx) => {
    const tariff = await store.findTariff(trx, tariffId, { forUpdate: true });
    if (!tariff) throw new TariffNotFoundError(tariffId);
    const versions = await store.versionsOf(trx, [tariffId]);
    const latest = versions[versions.length - 1];
    if (latest && input.effectiveFrom.getTime() <= latest.effective_from.getTime()) {
      throw new TariffVersionOrderError(`a new version must start after the latest one (version ${latest.version}, from ${latest.effective_from.toISOString()})`);
    }
    if (input.effectiveFrom.getTime() < now.getTime()) {
      throw new TariffVersionOrderError(`a new version cannot start in the past (${input.effectiveFrom.toISOString()} is before ${now.toISOString()}): history is never rewritten`);
    }
    const version = await store.insertTariffVersion(trx, {
      tariff_id: tariffId,
      version: (latest?.version ?? 0) + 1,
      effective_from: input.effectiveFrom,
      components: input.components,
      note: input.note ?? null,
      created_by: actor.principal.subject,
    });
    await audit(trx, actor.principal, actor.requestId, { action: 'tariff.add_version', targetType: 'tariff', targetId: tariffId, details: { version: version.version, ...input } });
    return version;
  });
}

export async function getTariff(db: Executor, id: string): Promise<TariffWithVersions> {
  const tariff = await store.findTariff(db, id);
  if (!tariff) throw new TariffNotFoundError(id);
  return { tariff, versions: await store.versionsOf(db, [id]) };
}

export async function listTariffs(db: Db, filter: store.TariffFilter): Promise<TariffWithVersions[]> {
  const tariffs = await store.listTariffs(db, filter);
  const versions = await store.versionsOf(db, tariffs.map((t) => t.id));
  return tariffs.map((tariff) => ({ tariff, versions: versions.filter((v) => v.tariff_id === tariff.id) }));
}

/** `siteId` undefined: not checked (an account's meters may sit on several sites). */
async function requireTariffFor(db: Executor, tariffId: string, meterType: MeterType, siteId: string | null | undefined, currency: string | null): Promise<Tariff> {
  const tariff = await store.findTariff(db, tariffId);
  if (!tariff) throw new TariffNotFoundError(tariffId);
  if (tariff.meter_type !== meterType) throw new TariffMismatchError(`tariff ${tariffId} prices ${tariff.meter_type} meters, not ${meterType}`);
  if (tariff.site_id && siteId !== undefined && tariff.site_id !== siteId) throw new TariffMismatchError(`tariff ${tariffId} belongs to site ${tariff.site_id}`);
  if (currency && tariff.currency !== currency) throw new TariffMismatchError(`tariff ${tariffId} is in ${tariff.currency}, the account in ${currency}`);
  return tariff;
}

/** A meter's own tariff (null clears it: the meter then takes its account's or its site's). */
export async function assignMeterTariff(db: Db, meterId: string, tariffId: string | null, actor: Actor): Promise<{ meterId: string; tariffId: string | null }> {
  return inTransaction(db, 'meter tariff', async (trx) => {
    const meter = await registry.findMeter(trx, meterId);
    if (!meter) throw new MeterNotFoundError(meterId);
    if (tariffId) {
      const account = meter.account_id ? await store.accountExists(trx, meter.account_id) : undefined;
      await requireTariffFor(trx, tariffId, meter.meter_type, meter.site_id, account?.currency ?? null);
    }
    await store.setMeterTariff(trx, meterId, tariffId);
    await audit(trx, actor.principal, actor.requestId, { action: 'meter.assign_tariff', targetType: 'meter', targetId: meterId, details: { tariffId, previous: meter.tariff_id } });
    return { meterId, tariffId };
  });
}

/** An account's tariff for its meters of one type (null clears it). */
export async function assignAccountTariff(db: Db, accountId: string, meterType: MeterType, tariffId: string | null, actor: Actor): Promise<store.TariffAssignment[]> {
  return inTransaction(db, 'account tariff', async (trx) => {
    const account = await store.accountExists(trx, accountId);
    if (!account) throw new AccountNotFoundError(accountId);
    // An account's meters may sit on several sites: a site's own tariff is checked when it prices a meter.
    if (tariffId) await requireTariffFor(trx, tariffId, meterType, undefined, account.currency);
    await store.setAccountTariff(trx, accountId, meterType, tariffId);
    await audit(trx, actor.principal, actor.requestId, { action: 'account.assign_tariff', targetType: 'account', targetId: accountId, details: { meterType, tariffId } });
    return store.accountTariffs(trx, accountId);
  });
}

/** A site's default tariff for its meters of one type (null clears it). */
export async function assignSiteTariff(db: Db, siteId: string, meterType: MeterType, tariffId: string | null, actor: Actor): Promise<store.TariffAssignment[]> {
  return inTransaction(db, 'site tariff', async (trx) => {
    if (!(await store.siteOf(trx, siteId))) throw new SiteNotFoundError(siteId);
    if (tariffId) await requireTariffFor(trx, tariffId, meterType, siteId, null);
    await store.setSiteTariff(trx, siteId, meterType, tariffId);
    await audit(trx, actor.principal, actor.requestId, { action: 'site.assign_tariff', targetType: 'site', targetId: siteId, details: { meterType, tariffId } });
    return store.siteTariffs(trx, siteId);
  });
}

export async function accountTariffs(db: Db, accountId: string): Promise<store.TariffAssignment[]> {
  if (!(await store.accountExists(db, accountId))) throw new AccountNotFoundError(accountId);
  return store.accountTariffs(db, accountId);
}

export async function siteTariffs(db: Db, siteId: string): Promise<store.TariffAssignment[]> {
  if (!(await store.siteOf(db, siteId))) throw new SiteNotFoundError(siteId);
  return store.siteTariffs(db, siteId);
}

export interface EffectiveTariff {
  meter: store.MeterTariffRow;
  /** Null when the meter has no tariff at all. */
  tariff: TariffWithVersions | null;
}

/** The tariff that prices a meter: its own, else its account's, else its site's default for its meter type. */
export async function effectiveTariff(db: Db, meterId: string): Promise<EffectiveTariff> {
  const [meter] = await store.meterTariffs(db, [meterId]);
  if (!meter) throw new MeterNotFoundError(meterId);
  return { meter, tariff: meter.tariffId ? await getTariff(db, meter.tariffId) : null };
}
