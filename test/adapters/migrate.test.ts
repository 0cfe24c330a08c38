// Migrations: applied once, recorded, refused when edited after the fact, and in step with the Kysely
// types the code is written against.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { loadMigrations, migrate, MigrationError } from '#adapters/db/migrate';
import { openTestDb, type TestDb } from '../support/db.ts';

let testDb: TestDb;
beforeAll(async () => {
  testDb = await openTestDb();
});
afterAll(async () => {
  await testDb.close();
});

describe('migrations', () => {
  it('are recorded and not applied twice', async () => {
    const migrations = await loadMigrations();

    const again = await migrate(testDb.db, migrations);

    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toBe(migrations.length);
  });

  it('refuse a migration edited after it was applied', async () => {
    const [first, ...rest] = await loadMigrations();

    await expect(migrate(testDb.db, [{ ...first!, checksum: 'edited' }, ...rest])).rejects.toThrow(MigrationError);
  });

  it('create every table the code uses', async () => {
    const tables = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`.execute(testDb.db);

    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['sites', 'devices', 'meters', 'meter_devices', 'meter_readings', 'device_commands', 'parking_spaces', 'actuations', 'accounts', 'ledger_entries', 'payments', 'tariffs', 'tariff_versions', 'account_tariffs', 'site_tariffs', 'quarantine', 'audit_log']),
    );
  });

  it('keep the ledger append-only', async () => {
    const customer = await testDb.db.insertInto('customers').values({ name: 'C' }).returning('id').executeTakeFirstOrThrow();
    const account = await testDb.db.insertInto('accounts').values({ customer_id: customer.id, account_no: `A${Date.now()}` }).returning('id').executeTakeFirstOrThrow();
    const entry = await testDb.db
      .insertInto('ledger_entries')
      .values({ account_id: account.id, entry_type: 'adjustment', amount_minor: 100, balance_after_minor: 100, currency: 'KES', idempotency_key: `k${Date.now()}`, reason: 'opening balance' })
      .returning('id')
      .executeTakeFirstOrThrow();

    await expect(testDb.db.updateTable('ledger_entries').set({ amount_minor: 1 }).where('id', '=', entry.id).execute()).rejects.toThrow(/append-only/);
    await expect(testDb.db.deleteFrom('ledger_entries').where('id', '=', entry.id).execute()).rejects.toThrow(/append-only/);
  });

  it('keep the parking space DevEUI copies in sync with the registry', async () => {
    const sensor = await testDb.db
      .insertInto('devices')
      .values({ kind: 'lorawan', dev_eui: 'a1b2c3d4e5f60708', device_type: 'browan_tabs', decoder: 'browan_tabs' })
      .returning('id')
      .executeTakeFirstOrThrow();

    const space = await testDb.db.insertInto('parking_spaces').values({ code: `P${Date.now()}`, name: 'P1', sensor_device_id: sensor.id }).returningAll().executeTakeFirstOrThrow();

    expect(space.sensor_dev_eui).toBe('a1b2c3d4e5f60708');
    await expect(testDb.db.updateTable('devices').set({ dev_eui: 'ffffffffffffffff' }).where('id', '=', sensor.id).execute()).rejects.toThrow(/cannot change/);
  });
});
