// The tariffs' store on a real database (the local driver, and the RDS Data API as the cloud reaches
// Aurora): migration 0009 turns a single-price tariff of 0001 into its first version, and the meter_tariff
// resolution reads many meters in one statement, as the billing job will.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { loadMigrations, migrate } from '#adapters/db/migrate';
import { meterTariffs, setAccountTariff, setMeterTariff, setSiteTariff, versionsOf } from '#store/tariffs';
import { componentsSchema } from '#domain/tariff/index';
import { openDataApiTestDb, type DataApiTestDb } from '../support/data-api.ts';

describe('tariff store (RDS Data API path)', () => {
  let testDb: DataApiTestDb;

  beforeAll(async () => {
    testDb = await openDataApiTestDb({ migrate: false });
  });
  afterAll(async () => {
    await testDb.close();
  });

  it('migration 0009 keeps a single-price tariff as its first version, which the domain accepts', async () => {
    const migrations = await loadMigrations();
    // Everything before the tariffs migration (whatever number it is given when merged).
    await migrate(testDb.db, migrations.slice(0, migrations.findIndex((m) => m.name === 'tariffs')));
    const id = randomUUID();
    await sql`INSERT INTO tariffs (id, name, meter_type, currency, price_per_unit_minor, standing_charge_minor, valid_from)
              VALUES (CAST(${id} AS uuid), 'Old', 'electricity', 'KES', 2050.5, 15000, '2026-01-01T00:00:00Z')`.execute(testDb.db);

    await migrate(testDb.db, migrations);

    const [version] = await versionsOf(testDb.db, [id]);
    expect(version).toMatchObject({ version: 1, effective_from: new Date('2026-01-01T00:00:00Z') });
    expect(componentsSchema.parse(version!.components)).toEqual([
      { id: 'energy', kind: 'flat', rateMinor: '2050.5000' },
      { id: 'standing', kind: 'fixed', per: 'month', amountMinor: '15000' },
    ]);
  });

  it("resolves many meters' tariffs and time zones in one call", async () => {
    const site = await testDb.db.insertInto('sites').values({ code: `S${randomUUID().slice(0, 8)}`, name: 'S', timezone: 'Africa/Nairobi' }).returning('id').executeTakeFirstOrThrow();
    const customer = await testDb.db.insertInto('customers').values({ name: 'C' }).returning('id').executeTakeFirstOrThrow();
    const account = await testDb.db.insertInto('accounts').values({ customer_id: customer.id, account_no: `A${randomUUID().slice(0, 8)}` }).returning('id').executeTakeFirstOrThrow();
    const tariff = (name: string) => testDb.db.insertInto('tariffs').values({ name, meter_type: 'electricity', currency: 'KES' }).returning('id').executeTakeFirstOrThrow();
    const [t1, t2, t3] = [await tariff('site'), await tariff('account'), await tariff('meter')];
    const meter = (n: string, accountId: string | null) =>
      testDb.db.insertInto('meters').values({ meter_no: `${n}${randomUUID().slice(0, 6)}`, meter_type: 'electricity', unit: 'kWh', site_id: site.id, account_id: accountId }).returning('id').executeTakeFirstOrThrow();
    const [bySite, byAccount, byMeter] = [await meter('A', null), await meter('B', account.id), await meter('C', account.id)];
    const orphan = await testDb.db.insertInto('meters').values({ meter_no: `D${randomUUID().slice(0, 6)}`, meter_type: 'water', unit: 'm3' }).returning('id').executeTakeFirstOrThrow();
    await setSiteTariff(testDb.db, site.id, 'electricity', t1.id);
    await setAccountTariff(testDb.db, account.id, 'electricity', t2.id);
    await setMeterTariff(testDb.db, byMeter.id, t3.id);
    testDb.server.resetCalls();

    const rows = await meterTariffs(testDb.db, [bySite.id, byAccount.id, byMeter.id, orphan.id]);

    expect(testDb.server.count('ExecuteStatement')).toBe(1);
    const byId = new Map(rows.map((r) => [r.meterId, r]));
    expect(byId.get(bySite.id)).toMatchObject({ tariffId: t1.id, source: 'site', timezone: 'Africa/Nairobi' });
    expect(byId.get(byAccount.id)).toMatchObject({ tariffId: t2.id, source: 'account', accountCurrency: 'KES' });
    expect(byId.get(byMeter.id)).toMatchObject({ tariffId: t3.id, source: 'meter' });
    expect(byId.get(orphan.id)).toMatchObject({ tariffId: null, source: null, timezone: 'UTC' });
  });
});
