// Numbered SQL migrations from schema/, applied in order by one routine on all three drivers: each file
// in its own transaction, statement by statement (the Data API takes one statement per call), recorded
// in schema_migrations with a checksum so an edited, already-applied migration is refused.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Db } from '#store/db';
import { splitStatements } from './sql-text.ts';

interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** schema/ beside the repository root (local runs and tests). The Lambda passes its bundled copy. */
export const defaultSchemaDir = fileURLToPath(new URL('../../../schema/', import.meta.url));

export async function loadMigrations(dir: string = defaultSchemaDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(path.join(dir, file), 'utf8');
      const [version = '', ...rest] = file.replace(/\.sql$/, '').split('_');
      return { version, name: rest.join('_'), sql: text, checksum: createHash('sha256').update(text).digest('hex') };
    }),
  );
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export async function migrate(db: Db, migrations: Migration[]): Promise<MigrateResult> {
  await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`.execute(db);
  const done = new Map(
    (await db.selectFrom('schema_migrations').select(['version', 'checksum']).execute()).map((r) => [r.version, r.checksum]),
  );
  const applied: string[] = [];
  for (const m of migrations) {
    const existing = done.get(m.version);
    if (existing !== undefined) {
      if (existing !== m.checksum) {
        throw new MigrationError(`migration ${m.version}_${m.name} was changed after it was applied; add a new migration instead`);
      }
      continue;
    }
    await db.transaction().execute(async (trx) => {
      // Serialise concurrent migrators (two Lambdas, two local starts on one database). The function returns
      // void, a type the Data API refuses to return ("UnsupportedResultException"), so it is called in FROM.
      await sql`SELECT true AS locked FROM pg_advisory_xact_lock(72046311)`.execute(trx);
      const again = await trx.selectFrom('schema_migrations').select('version').where('version', '=', m.version).executeTakeFirst();
      if (again) return;
      for (const statement of splitStatements(m.sql)) await sql.raw(statement).execute(trx);
      await trx.insertInto('schema_migrations').values({ version: m.version, name: m.name, checksum: m.checksum }).execute();
      applied.push(`${m.version}_${m.name}`);
    });
  }
  return { applied, alreadyApplied: done.size };
}
