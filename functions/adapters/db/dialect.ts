// What the Kysely dialects here share: PostgreSQL's adapter, query compiler and introspector around a
// driver of their own, a driver with nothing to set up or tear down, and connections that do not stream.
import {
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';

/** A dialect that speaks PostgreSQL's SQL; only how statements reach the database differs. */
export abstract class PostgresFamilyDialect implements Dialect {
  abstract createDriver(): Driver;
  createAdapter() {
    return new PostgresAdapter();
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
}

/** A driver without a pool: nothing to initialise, release or destroy unless it says otherwise. */
export abstract class PoolFreeDriver implements Driver {
  abstract acquireConnection(): Promise<DatabaseConnection>;
  abstract beginTransaction(connection: DatabaseConnection): Promise<void>;
  abstract commitTransaction(connection: DatabaseConnection): Promise<void>;
  abstract rollbackTransaction(connection: DatabaseConnection): Promise<void>;
  async init(): Promise<void> {}
  async releaseConnection(_connection: DatabaseConnection): Promise<void> {}
  async destroy(): Promise<void> {}
}

/** A connection that runs one statement at a time and refuses to stream results. */
export abstract class StatementConnection implements DatabaseConnection {
  /** Names the dialect in the streaming refusal. */
  protected abstract readonly dialectName: string;
  abstract executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>>;

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error(`${this.dialectName} does not support streaming`);
  }
}
