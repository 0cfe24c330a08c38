// Where the emulator executes: real PostgreSQL (node-postgres, optionally inside one schema) or a PGlite
// instance, both giving back text so the emulator converts values itself, as the service does from JDBC.
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { z } from 'zod';
import { DataApiServiceError } from './protocol.ts';
import type { BoundValue } from './types.ts';

/** Where the emulator executes: real PostgreSQL (optionally inside one schema) or a PGlite instance. */
export type DataApiExecutor = { connectionString: string; searchPath?: string } | PGlite;

/** What a statement returned: every value as PostgreSQL's text (or NULL). */
export interface RawResult {
  command: string;
  affected: number;
  fields: { name: string; dataTypeID: number }[];
  rows: (string | null)[][];
}

/** One database connection; the emulator holds one per open transaction. */
export interface Session {
  run(sql: string, values: BoundValue[]): Promise<RawResult>;
  release(): void;
}

export interface Backend {
  /** A connection of its own; `holder` names who takes it, for the error when it cannot be had. */
  session(holder: string): Promise<Session>;
  /** The type catalogue changed (a migration created types): results of the new types must stay text too. */
  typesChanged(): Promise<void>;
  close(): Promise<void>;
}

export async function openBackend(executor: DataApiExecutor, pgliteLockWaitMs: number): Promise<Backend> {
  if ('connectionString' in executor) return new PostgresBackend(executor.connectionString, executor.searchPath);
  // Aurora's default time zone is UTC; timestamp parameters are read in it.
  await executor.exec(`SET TIME ZONE 'UTC'`);
  return new PgliteBackend(executor, pgliteLockWaitMs);
}

const TextRowSchema = z.array(z.array(z.string().nullable()));

class PostgresBackend implements Backend {
  private readonly pool: pg.Pool;
  constructor(connectionString: string, searchPath: string | undefined) {
    // Text in, text out: the emulator does its own conversions, like the service does from JDBC.
    const rawText = (() => (value: string) => value) as unknown as typeof pg.types.getTypeParser;
    this.pool = new pg.Pool({
      connectionString,
      max: 10,
      options: `-c TimeZone=UTC${searchPath ? ` -c search_path=${searchPath}` : ''}`,
      types: { getTypeParser: rawText },
    });
    this.pool.on('error', () => {
      // An idle connection died (server restart, schema dropped); the pool replaces it.
    });
  }

  async session(): Promise<Session> {
    const client = await this.pool.connect();
    return {
      run: async (text, values) => {
        // The extended protocol even without parameters: it refuses several statements in one call, as the
        // service does on Serverless v2.
        const config: pg.QueryArrayConfig & { queryMode: 'extended' } = {
          text,
          values: values.map((v) => (v instanceof Uint8Array ? Buffer.from(v) : v)),
          rowMode: 'array',
          queryMode: 'extended',
        };
        const result = await client.query(config);
        return {
          command: result.command,
          affected: result.rowCount ?? 0,
          fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
          rows: TextRowSchema.parse(result.rows),
        };
      },
      release: () => client.release(),
    };
  }

  async typesChanged(): Promise<void> {
    // Every type already comes back as text (the pool's parser returns it unchanged).
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

class PgliteBackend implements Backend {
  private holder: string | undefined;
  private waiters: (() => void)[] = [];
  private parsers: Record<number, (value: string) => string> = {};

  constructor(
    private readonly db: PGlite,
    private readonly lockWaitMs: number,
  ) {}

  /** Every type PGlite would parse is returned as its text instead (arrays included). */
  async typesChanged(): Promise<void> {
    const oids = await this.db.query<{ oid: string }>('SELECT oid::text AS oid FROM pg_type');
    const keys = new Set<number>([...Object.keys(this.db.parsers), ...oids.rows.map((r) => r.oid)].map(Number).filter(Number.isInteger));
    this.parsers = Object.fromEntries([...keys].map((oid) => [oid, (value: string) => value]));
  }

  async session(holder: string): Promise<Session> {
    const deadline = Date.now() + this.lockWaitMs;
    while (this.holder !== undefined) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new DataApiServiceError(
          'DatabaseErrorException',
          `[emulator] PGlite is a single connection and ${this.holder} holds it; the real service would not wait here`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.holder = holder;
    return {
      run: async (text, values) => {
        const result = await this.db.query<unknown[]>(text, values, { rowMode: 'array', parsers: this.parsers });
        return {
          command: result.command ?? '',
          affected: result.affectedRows ?? 0,
          fields: result.fields,
          rows: TextRowSchema.parse(result.rows),
        };
      },
      release: () => {
        this.holder = undefined;
        // Wake every waiter: each checks again, one wins, the others wait on (stale timers are harmless).
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      },
    };
  }

  async close(): Promise<void> {
    // The caller owns the PGlite instance.
  }
}
