// Kysely dialect for PGlite (embedded PostgreSQL in WASM). PGlite is one connection, so connections are
// handed out one at a time: a transaction holds it until commit or rollback.
import type { PGlite } from '@electric-sql/pglite';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import { PoolFreeDriver, PostgresFamilyDialect, StatementConnection } from './dialect.ts';

class PgliteConnection extends StatementConnection {
  protected readonly dialectName = 'The PGlite dialect';
  constructor(private readonly pg: PGlite) {
    super();
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pg.query<R>(query.sql, [...query.parameters]);
    return {
      rows: result.rows,
      ...(result.affectedRows !== undefined ? { numAffectedRows: BigInt(result.affectedRows) } : {}),
    };
  }
}

class PgliteDriver extends PoolFreeDriver {
  private readonly connection: PgliteConnection;
  private queue: Promise<void> = Promise.resolve();
  private release: (() => void) | undefined;

  constructor(private readonly pg: PGlite) {
    super();
    this.connection = new PgliteConnection(pg);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.release = release;
    return this.connection;
  }

  async beginTransaction(): Promise<void> {
    await this.pg.query('BEGIN');
  }

  async commitTransaction(): Promise<void> {
    await this.pg.query('COMMIT');
  }

  async rollbackTransaction(): Promise<void> {
    // A closed (or failed) PGlite has no transaction left to roll back; the statement's own error is the
    // one the caller must see.
    if (this.pg.closed) return;
    await this.pg.query('ROLLBACK');
  }

  override async releaseConnection(): Promise<void> {
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}

export class PgliteDialect extends PostgresFamilyDialect {
  constructor(private readonly pg: PGlite) {
    super();
  }
  createDriver() {
    return new PgliteDriver(this.pg);
  }
}
