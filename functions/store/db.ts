// The database as the store sees it: one Kysely type over PGlite, node-postgres and the RDS Data API,
// and the few primitives every store module shares (an executor that is the database or a transaction,
// a JSON parameter, a transaction that maps PostgreSQL errors, a reachability check).
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { mapDbError } from './errors.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;
/** Where a store function runs its statements: the database, or a transaction on it. */
export type Executor = Kysely<Database> | Transaction<Database>;
export type Tx = Transaction<Database>;

/**
 * A value as one jsonb parameter. The Data API has no array parameters, so a batch of rows travels
 * as JSON and is expanded with `jsonb_to_recordset` in the statement.
 */
export const json = (value: unknown): RawBuilder<unknown> => sql`CAST(${JSON.stringify(value)} AS jsonb)`;

/** Run `work` in one transaction; a database error becomes a domain error naming `what`. */
export async function inTransaction<T>(db: Db, what: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  try {
    return await db.transaction().execute(work);
  } catch (error) {
    throw mapDbError(error, what);
  }
}

/** Is the database reachable? Throws what the driver throws when it is not. */
export async function ping(db: Executor): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
