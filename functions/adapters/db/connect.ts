// One query code path over three drivers: PGlite (embedded), node-postgres (DATABASE_URL) and the RDS
// Data API (Aurora). Each returns the same JS values: int8/numeric as number, timestamptz as Date,
// json/jsonb parsed.
import { Kysely, PostgresDialect } from 'kysely';
import type { Db } from '#store/db';
import type { Database } from '#store/schema';
import type { DataApiTarget } from './data-api-dialect.ts';

type DbDriver = 'pglite' | 'postgres' | 'data-api';

export interface DbHandle {
  db: Db;
  driver: DbDriver;
  /** Where the data is, for start-up messages (no credentials). */
  describe: string;
  close(): Promise<void>;
}

const INT8 = 20;
const NUMERIC = 1700;
const toNumber = (v: string) => Number(v);

export async function openPglite(dataDir: string | undefined): Promise<DbHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PgliteDialect } = await import('./pglite-dialect.ts');
  const pg = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: { [INT8]: toNumber, [NUMERIC]: toNumber },
  });
  await pg.exec(`SET TIME ZONE 'UTC'`);
  const db = new Kysely<Database>({ dialect: new PgliteDialect(pg) });
  return {
    db,
    driver: 'pglite',
    describe: dataDir ? `PGlite (embedded) at ${dataDir}` : 'PGlite (embedded, in memory)',
    close: async () => {
      await db.destroy();
      await pg.close();
    },
  };
}

interface PostgresOptions {
  maxConnections?: number;
  /** Schema to use instead of public (tests isolate themselves this way). */
  searchPath?: string;
}

export async function openPostgres(connectionString: string, options: PostgresOptions = {}): Promise<DbHandle> {
  const pg = await import('pg');
  const { types } = pg.default;
  const parse = (oid: number, format?: string): ((value: string) => unknown) =>
    oid === INT8 || oid === NUMERIC ? toNumber : (types.getTypeParser(oid, format as 'text') as (value: string) => unknown);
  const pool = new pg.default.Pool({
    connectionString,
    max: options.maxConnections ?? 10,
    types: { getTypeParser: parse as typeof types.getTypeParser },
    // Keep any `options` the URL carries (e.g. -c search_path=...) and pin the session time zone.
    options: [new URL(connectionString).searchParams.get('options'), '-c TimeZone=UTC', options.searchPath ? `-c search_path=${options.searchPath}` : '']
      .filter(Boolean)
      .join(' '),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const url = new URL(connectionString);
  return {
    db,
    driver: 'postgres',
    describe: `PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`,
    close: () => db.destroy(),
  };
}

export async function openDataApi(target: DataApiTarget): Promise<DbHandle> {
  const { DataApiDialect } = await import('./data-api-dialect.ts');
  const db = new Kysely<Database>({ dialect: new DataApiDialect(target) });
  return {
    db,
    driver: 'data-api',
    describe: `Aurora via the RDS Data API (${target.database})`,
    close: () => db.destroy(),
  };
}
