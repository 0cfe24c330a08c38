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
}

export async function openDataApiTestDb(): Promise<DataApiTestDb> {
  let server: DataApiServer;
  let release: () => Promise<void>;
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
    server = await startDataApiServer(embedded);
    release = () => embedded.close();
  }
  const client = new RDSDataClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const handle = await openDataApi({
    client,
    resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:quantify',
    secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:quantify-db',
    database: 'quantify',
  });
  await migrate(handle.db, await loadMigrations());
  server.resetCalls();
  return {
    ...handle,
    server,
    client,
    close: async () => {
      await handle.close();
      client.destroy();
      await server.close();
      await release();
    },
  };
}
