// The tariffs' store: tariffs and their append-only versions, the assignments (a meter's own tariff, an
// account's and a site's default per meter type), the meter_tariff view that resolves them, and the
// readings a bill preview rates (values as exact decimal text, not floats).
import { sql, type Insertable } from 'kysely';
import { json, type Executor } from './db.ts';
import type { MeterType, Tariff, TariffsTable, TariffVersionRow, TariffVersionsTable } from './schema.ts';
import type { Page } from './registry.ts';

// ---- Tariffs and versions ----

export async function insertTariff(db: Executor, tariff: Insertable<TariffsTable>): Promise<Tariff> {
  return db.insertInto('tariffs').values(tariff).returningAll().executeTakeFirstOrThrow();
}

/** A tariff; `forUpdate` locks its row, so versions are added one at a time. */
export async function findTariff(db: Executor, id: string, options: { forUpdate?: boolean } = {}): Promise<Tariff | undefined> {
  let query = db.selectFrom('tariffs').selectAll().where('id', '=', id);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export interface TariffFilter extends Page {
  siteId?: string;
  meterType?: MeterType;
}

export async function listTariffs(db: Executor, filter: TariffFilter): Promise<Tariff[]> {
  let query = db.selectFrom('tariffs').selectAll();
  if (filter.siteId) query = query.where('site_id', '=', filter.siteId);
  if (filter.meterType) query = query.where('meter_type', '=', filter.meterType);
  return query.orderBy('name').orderBy('id').limit(filter.limit).offset(filter.offset).execute();
}

export async function insertTariffVersion(db: Executor, version: Insertable<TariffVersionsTable>): Promise<TariffVersionRow> {
  return db
    .insertInto('tariff_versions')
    .values({ ...version, components: sql<unknown[]>`CAST(${JSON.stringify(version.components)} AS jsonb)` })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The versions of the given tariffs, each tariff's in ascending order. */
export async function versionsOf(db: Executor, tariffIds: readonly string[]): Promise<TariffVersionRow[]> {
  if (!tariffIds.length) return [];
  return db
    .selectFrom('tariff_versions')
    .selectAll()
    .where(sql<boolean>`tariff_id IN (SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(${json(tariffIds)}))`)
    .orderBy('tariff_id')
    .orderBy('version')
    .execute();
}

// ---- Assignments ----

/** Set (or clear, with null) a meter's own tariff; false when the meter does not exist. */
export async function setMeterTariff(db: Executor, meterId: string, tariffId: string | null): Promise<boolean> {
  const result = await db.updateTable('meters').set({ tariff_id: tariffId, updated_at: sql<Date>`now()` }).where('id', '=', meterId).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function setAccountTariff(db: Executor, accountId: string, meterType: MeterType, tariffId: string | null): Promise<void> {
  if (tariffId === null) {
    await db.deleteFrom('account_tariffs').where('account_id', '=', accountId).where('meter_type', '=', meterType).execute();
    return;
  }
  await db
    .insertInto('account_tariffs')
    .values({ account_id: accountId, meter_type: meterType, tariff_id: tariffId })
    .onConflict((oc) => oc.columns(['account_id', 'meter_type']).doUpdateSet({ tariff_id: tariffId, updated_at: sql<Date>`now()` }))
    .execute();
}

export async function setSiteTariff(db: Executor, siteId: string, meterType: MeterType, tariffId: string | null): Promise<void> {
  if (tariffId === null) {
    await db.deleteFrom('site_tariffs').where('site_id', '=', siteId).where('meter_type', '=', meterType).execute();
    return;
  }
  await db
    .insertInto('site_tariffs')
    .values({ site_id: siteId, meter_type: meterType, tariff_id: tariffId })
    .onConflict((oc) => oc.columns(['site_id', 'meter_type']).doUpdateSet({ tariff_id: tariffId, updated_at: sql<Date>`now()` }))
    .execute();
}

export interface TariffAssignment {
  meterType: MeterType;
  tariffId: string;
  updatedAt: Date;
}

export async function accountTariffs(db: Executor, accountId: string): Promise<TariffAssignment[]> {
  const rows = await db.selectFrom('account_tariffs').selectAll().where('account_id', '=', accountId).orderBy('meter_type').execute();
  return rows.map((r) => ({ meterType: r.meter_type, tariffId: r.tariff_id, updatedAt: r.updated_at }));
}

export async function siteTariffs(db: Executor, siteId: string): Promise<TariffAssignment[]> {
  const rows = await db.selectFrom('site_tariffs').selectAll().where('site_id', '=', siteId).orderBy('meter_type').execute();
  return rows.map((r) => ({ meterType: r.meter_type, tariffId: r.tariff_id, updatedAt: r.updated_at }));
}

export async function accountExists(db: Executor, accountId: string): Promise<{ currency: string } | undefined> {
  return db.selectFrom('accounts').select('currency').where('id', '=', accountId).executeTakeFirst();
}

export async function siteOf(db: Executor, siteId: string): Promise<{ id: string; timezone: string } | undefined> {
  return db.selectFrom('sites').select(['id', 'timezone']).where('id', '=', siteId).executeTakeFirst();
}

export interface MeterTariffRow {
  meterId: string;
  meterType: MeterType;
  siteId: string | null;
  accountId: string | null;
  accountCurrency: string | null;
  /** The site's IANA time zone ('UTC' for a meter of no site). */
  timezone: string;
  tariffId: string | null;
  source: 'meter' | 'account' | 'site' | null;
}

/** Meters with the tariff that prices them (meter_tariff) and their site's time zone; set-based. */
export async function meterTariffs(db: Executor, meterIds: readonly string[]): Promise<MeterTariffRow[]> {
  if (!meterIds.length) return [];
  const rows = await db
    .selectFrom('meters as m')
    .innerJoin('meter_tariff as mt', 'mt.meter_id', 'm.id')
    .leftJoin('sites as s', 's.id', 'm.site_id')
    .leftJoin('accounts as a', 'a.id', 'm.account_id')
    .select(['m.id', 'm.meter_type', 'm.site_id', 'm.account_id', 'a.currency', 's.timezone', 'mt.tariff_id', 'mt.source'])
    .where(sql<boolean>`m.id IN (SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(${json(meterIds)}))`)
    .execute();
  return rows.map((r) => ({
    meterId: r.id,
    meterType: r.meter_type,
    siteId: r.site_id,
    accountId: r.account_id,
    accountCurrency: r.currency,
    timezone: r.timezone ?? 'UTC',
    tariffId: r.tariff_id,
    source: r.source,
  }));
}

// ---- Readings for rating ----

export interface CumulativeReading {
  at: Date;
  /** The meter's cumulative value as exact decimal text. */
  value: string;
}

const readingColumns = sql<string>`CAST(reading_value AS text)`.as('value');

/** A meter's readings with a value in (from, to), oldest first, at most `limit`. */
export async function readingsBetween(db: Executor, meterId: string, from: Date, to: Date, limit: number): Promise<CumulativeReading[]> {
  const rows = await db
    .selectFrom('meter_readings')
    .select(['reading_date', readingColumns])
    .where('meter_id', '=', meterId)
    .where('reading_value', 'is not', null)
    .where('reading_date', '>', from)
    .where('reading_date', '<', to)
    .orderBy('reading_date')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({ at: r.reading_date, value: r.value }));
}

/** The last reading at or before `at` and the first after it (either may be missing). */
export async function readingsAround(db: Executor, meterId: string, at: Date): Promise<{ before?: CumulativeReading; after?: CumulativeReading }> {
  const before = await db
    .selectFrom('meter_readings')
    .select(['reading_date', readingColumns])
    .where('meter_id', '=', meterId)
    .where('reading_value', 'is not', null)
    .where('reading_date', '<=', at)
    .orderBy('reading_date', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const after = await db
    .selectFrom('meter_readings')
    .select(['reading_date', readingColumns])
    .where('meter_id', '=', meterId)
    .where('reading_value', 'is not', null)
    .where('reading_date', '>', at)
    .orderBy('reading_date')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return {
    ...(before ? { before: { at: before.reading_date, value: before.value } } : {}),
    ...(after ? { after: { at: after.reading_date, value: after.value } } : {}),
  };
}
