// One query code path over three drivers: PGlite (embedded), node-postgres (DATABASE_URL) and the RDS
// Data API (Aurora). Each returns the same JS values: int8/numeric as number, timestamptz as Date,
// json/jsonb parsed.
import { Kysely, PostgresDialect, type PostgresCursor, type PostgresPool, type PostgresPoolClient, type PostgresQueryResult } from 'kysely';
import type { Client, Pool, PoolClient } from 'pg';
import type { Db } from '#store/db';
import { isUnavailable } from '#store/errors';
import type { Logger } from '#shared/logger';
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

export interface PostgresOptions {
  maxConnections?: number;
  /** Schema to use instead of public (tests isolate themselves this way). */
  searchPath?: string;
  /** Connecting, or waiting for a free pooled connection, longer than this fails. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * The server cancels a statement running longer (statement_timeout, SQLSTATE 57014) and ends a session
   * left idle inside a transaction for twice as long (its locks freed when the client vanished). A
   * statement with no answer at all for this long plus as long again, at most 5 s (a silent partition), fails on the client
   * ("Query read timeout") and its connection is dropped. @default 30000
   */
  statementTimeoutMs?: number;
  /** An idle pooled connection is closed after this long. @default 10000 */
  idleTimeoutMs?: number;
  /** Shown in pg_stat_activity (an application_name in the URL wins). @default quantify */
  applicationName?: string;
  /** Where lost connections are reported. */
  logger?: Logger;
}

/** How much longer than the server's statement timeout the client waits for any answer at all (at most). */
const QUERY_TIMEOUT_GRACE_MS = 5_000;

export async function openPostgres(connectionString: string, options: PostgresOptions = {}): Promise<DbHandle> {
  const pg = await import('pg');
  const { types } = pg.default;
  const parse = (oid: number, format?: string): ((value: string) => unknown) =>
    oid === INT8 || oid === NUMERIC ? toNumber : (types.getTypeParser(oid, format as 'text') as (value: string) => unknown);
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  // node-postgres lets every parameter of the URL override the config, `options` too: taken out of the
  // URL here and composed below, so the pinned time zone is not lost when the URL carries options.
  const withoutOptions = new URL(connectionString);
  withoutOptions.searchParams.delete('options');
  const pool = new pg.default.Pool({
    connectionString: withoutOptions.toString(),
    max: options.maxConnections ?? 10,
    types: { getTypeParser: parse as typeof types.getTypeParser },
    // Keep any `options` the URL carries (e.g. -c search_path=...) and pin the session time zone.
    options: [new URL(connectionString).searchParams.get('options'), '-c TimeZone=UTC', options.searchPath ? `-c search_path=${options.searchPath}` : '']
      .filter(Boolean)
      .join(' '),
    application_name: options.applicationName ?? 'quantify',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 10_000,
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
    query_timeout: statementTimeoutMs + Math.min(QUERY_TIMEOUT_GRACE_MS, statementTimeoutMs),
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  const logger = options.logger;
  // An idle client whose connection dies (pg_terminate_backend, a restart, a failover) is removed from
  // the pool, which then emits 'error': without a listener that would end the process.
  pool.on('error', (error) => logger?.warn('database: an idle connection was lost; the pool opens a new one when needed', { error }));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new GuardedPool(pool, logger) }) });
  const url = new URL(connectionString);
  return {
    db,
    driver: 'postgres',
    describe: `PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`,
    close: () => db.destroy(),
  };
}

/**
 * The pool as Kysely sees it, with every handed-out client guarded: a client whose connection failed is
 * never handed out again, and never left hanging.
 */
class GuardedPool implements PostgresPool {
  private readonly guarded = new WeakMap<PoolClient, GuardedClient>();
  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger | undefined,
  ) {
    // Guarded from birth ('connect' is emitted for each new client before it is first handed out), so no
    // moment of its life lacks an 'error' listener.
    pool.on('connect', (client) => this.guard(client));
  }

  private guard(client: PoolClient): GuardedClient {
    let guarded = this.guarded.get(client);
    if (!guarded) {
      guarded = new GuardedClient(client, this.logger);
      this.guarded.set(client, guarded);
    }
    return guarded;
  }

  async connect(): Promise<PostgresPoolClient> {
    return this.guard(await this.pool.connect());
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * A pooled client that remembers its connection failed. node-postgres emits 'error' on a checked-out
 * client whose socket dies between statements (nobody listens then: the process would end); its query
 * timeout answers the caller but leaves the statement on the wire, so the connection would come back to
 * the pool still waiting for it. Here either marks the client broken: its socket is destroyed, a ROLLBACK
 * on it succeeds without a round trip (the server rolls back a transaction whose connection is gone, and
 * the statement's own error is the one the caller must see), any other statement fails at once, and on
 * release the pool destroys it instead of keeping it.
 */
class GuardedClient implements PostgresPoolClient {
  private broken: unknown;

  constructor(
    private readonly client: PoolClient,
    private readonly logger: Logger | undefined,
  ) {
    client.on('error', (error) => {
      this.logger?.debug('database: a connection in use was lost', { error });
      this.breakWith(error);
    });
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(sqlOrCursor: string | PostgresCursor<R>, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sqlOrCursor !== 'string') return this.client.query(sqlOrCursor as never);
    return this.run<R>(sqlOrCursor, parameters ?? []);
  }

  private async run<R>(text: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    if (this.broken !== undefined) {
      if (/^\s*rollback\s*$/i.test(text)) return { command: 'SELECT', rowCount: 0, rows: [] };
      throw new Error('Connection terminated: this connection failed earlier', { cause: this.broken });
    }
    try {
      return (await this.client.query(text, [...parameters])) as unknown as PostgresQueryResult<R>;
    } catch (error) {
      if (isUnavailable(error)) this.breakWith(error);
      throw error;
    }
  }

  private breakWith(error: unknown): void {
    if (this.broken !== undefined) return;
    this.broken = error;
    // A timed-out statement is still on the wire: end the connection so nothing waits behind it.
    (this.client as Partial<Client>).connection?.stream.destroy();
  }

  release(): void {
    this.client.release(this.broken === undefined ? undefined : this.broken instanceof Error ? this.broken : true);
  }
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
