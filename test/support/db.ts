// A fresh, migrated database for one test file: real PostgreSQL when DATABASE_URL is set (isolated in a
// schema of its own, dropped afterwards), embedded PGlite otherwise.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPglite, openPostgres, type DbHandle } from '#adapters/db/connect';
import { loadMigrations, migrate } from '#adapters/db/migrate';

export const databaseUrl = process.env.DATABASE_URL || undefined;
export const mqttUrl = process.env.MQTT_URL || undefined;
export const backendName = databaseUrl ? 'postgres' : 'pglite';

export interface TestDb extends DbHandle {
  /** The schema the test owns on real PostgreSQL (undefined on PGlite). */
  schema: string | undefined;
}

export async function openTestDb(): Promise<TestDb> {
  const migrations = await loadMigrations();
  if (!databaseUrl) {
    const handle = await openPglite(undefined);
    await migrate(handle.db, migrations);
    return { ...handle, schema: undefined };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const handle = await openPostgres(databaseUrl, { searchPath: schema, maxConnections: 5 });
  await migrate(handle.db, migrations);
  return {
    ...handle,
    schema,
    close: async () => {
      await handle.close();
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}
