// A migrated database reached the way the cloud reaches Aurora: Kysely → the Data API dialect → the real
// RDSDataClient → the local Data API endpoint (test/support/data-api-server.ts) → real PostgreSQL when
// DATABASE_URL is set (own schema), PGlite otherwise. `server.count(op)` counts the AWS calls made.
import { randomBytes } from 'node:crypto';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { openDataApi, type DbHandle } from '#adapters/db/connect';
import { loadMigrations, migrate } from '#adapters/db/migrate';
import { startDataApiServer, type DataApiServer } from './data-api-server.ts';
import { databaseUrl } from './db.ts';

export interface DataApiTestDb extends DbHandle {
  server: DataApiServer;
  client: RDSDataClient;
  /** The embedded database behind the endpoint, when there is no DATABASE_URL. */
  pglite: PGlite | undefined;
}

export const dataApiTarget = {
  resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:quantify',
  secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:quantify-db',
  database: 'quantify',
};

/**
 * `migrate: false` leaves the schema empty (for tests of migration itself). The client makes one attempt
 * per call: the emulator's errors are final, and retries would hide how many calls were made.
 */
export async function openDataApiTestDb(options: { migrate?: boolean } = {}): Promise<DataApiTestDb> {
  let server: DataApiServer;
  let release: () => Promise<void>;
  let pglite: PGlite | undefined;
  if (databaseUrl) {
    const schema = `d_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    server = await startDataApiServer({ connectionString: databaseUrl, searchPath: schema });
    release = async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    };
  } else {
    const embedded = await PGlite.create();
    pglite = embedded;
    server = await startDataApiServer(embedded);
    release = () => embedded.close();
  }
  const client = new RDSDataClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  const handle = await openDataApi({ client, ...dataApiTarget });
  if (options.migrate !== false) {
    await migrate(handle.db, await loadMigrations());
    server.resetCalls();
  }
  return {
    ...handle,
    server,
    client,
    pglite,
    close: async () => {
      await handle.close();
      client.destroy();
      await server.close();
      await release();
    },
  };
}
