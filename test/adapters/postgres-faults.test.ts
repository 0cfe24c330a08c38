// node-postgres under database faults, through a loopback proxy: backends terminated (what a restart or
// a failover does), a silent partition, a database that refuses connections. The pool survives each,
// reports it as "unavailable" (retryable), and works again once the database answers. Real PostgreSQL
// only: PGlite has no connections to kill.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres, type DbHandle } from '#adapters/db/connect';
import { inTransaction } from '#store/db';
import { isUnavailable } from '#store/errors';
import { UnavailableError } from '#shared/errors';
import type { Logger } from '#shared/logger';
import { databaseUrl } from '../support/db.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const STATEMENT_TIMEOUT_MS = 500;
const appName = `quantify-faults-${randomBytes(4).toString('hex')}`;
let proxy: TcpProxy;
let handle: DbHandle;
let admin: pg.Client;
const warnings: string[] = [];
const logger = { warn: (m: string) => warnings.push(m), debug: () => undefined, info: () => undefined, error: () => undefined } as unknown as Logger;

/** Terminate this file's backends (found by their application_name); how many there were. */
async function terminateOurBackends(): Promise<number> {
  const r = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [appName]);
  return r.rows.filter((row) => row.ok).length;
}

async function outcome(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
    return 'ok';
  } catch (error) {
    return error;
  }
}

const select1 = () => sql<{ one: number }>`SELECT 1 AS one`.execute(handle.db);

describe.skipIf(!databaseUrl)('node-postgres under database faults (real PostgreSQL; skipped without DATABASE_URL: PGlite has no connections to kill)', () => {
  beforeAll(async () => {
    const target = new URL(databaseUrl!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(proxy.url(databaseUrl!));
    url.searchParams.set('application_name', appName);
    handle = await openPostgres(url.toString(), { connectTimeoutMs: 1_000, statementTimeoutMs: STATEMENT_TIMEOUT_MS, maxConnections: 3, logger });
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
  });
  afterAll(async () => {
    await handle?.close();
    await proxy?.close();
    await admin?.end();
  });
  afterEach(() => {
    proxy.heal();
    proxy.refuse(false);
  });

  it('survives its idle connections being terminated, and the next query succeeds', async () => {
    await Promise.all([select1(), select1()]);

    warnings.length = 0;
    const lost = () => warnings.filter((w) => w.includes('idle connection was lost')).length;

    const terminated = await terminateOurBackends();
    for (let i = 0; i < 300 && lost() < terminated; i++) await new Promise((r) => setTimeout(r, 10));
    const after = await select1();

    expect(terminated).toBeGreaterThan(0);
    expect(lost()).toBe(terminated);
    expect(after.rows).toEqual([{ one: 1 }]);
  });

  it('fails a statement whose backend is terminated as unavailable, then works again', async () => {
    const sleeping = outcome(sql`SELECT pg_sleep(0.4)`.execute(handle.db));
    for (let i = 0; i < 200; i++) {
      const r = await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'SELECT pg_sleep%'", [appName]);
      if (r.rowCount) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    await terminateOurBackends();
    const failed = await sleeping;
    const after = await select1();

    expect(isUnavailable(failed)).toBe(true);
    expect(after.rows).toEqual([{ one: 1 }]);
  });

  it('fails a transaction as UnavailableError when its connection is cut, then commits one after', async () => {
    const failed = await outcome(
      inTransaction(handle.db, 'batch', async (tx) => {
        await sql`SELECT 1`.execute(tx);
        proxy.terminateAll();
        await sql`SELECT 2`.execute(tx);
      }),
    );
    const committed = await inTransaction(handle.db, 'batch', async (tx) => (await sql<{ two: number }>`SELECT 2 AS two`.execute(tx)).rows);

    expect(failed).toBeInstanceOf(UnavailableError);
    expect(committed).toEqual([{ two: 2 }]);
  });

  it('fails a batch during a silent partition longer than the statement timeout instead of hanging, and succeeds after heal', async () => {
    await select1();
    proxy.partition();

    const during = await outcome(inTransaction(handle.db, 'batch', async (tx) => sql`SELECT 1`.execute(tx)));
    proxy.heal();
    const after = await inTransaction(handle.db, 'batch', async (tx) => (await sql<{ one: number }>`SELECT 1 AS one`.execute(tx)).rows);

    expect(during).toBeInstanceOf(UnavailableError);
    expect(after).toEqual([{ one: 1 }]);
  });

  it('fails fast as unavailable while the database refuses connections, and works once it accepts', async () => {
    proxy.refuse(true);
    proxy.terminateAll();

    const refused = await outcome(select1());
    proxy.refuse(false);
    const after = await select1();

    expect(isUnavailable(refused)).toBe(true);
    expect(after.rows).toEqual([{ one: 1 }]);
  });
});

describe.skipIf(!databaseUrl)('openPostgres session settings (real PostgreSQL)', () => {
  it('keeps the UTC time zone and the statement timeout when the URL carries its own options', async () => {
    const url = new URL(databaseUrl!);
    url.searchParams.set('options', '-c search_path=public');
    const db = await openPostgres(url.toString(), { statementTimeoutMs: 12_345, maxConnections: 1 });

    try {
      const r = await sql<{ tz: string; timeout: string; path: string }>`SELECT current_setting('TimeZone') AS tz, current_setting('statement_timeout') AS timeout, current_setting('search_path') AS path`.execute(db.db);

      expect(r.rows[0]).toEqual({ tz: 'UTC', timeout: '12345ms', path: 'public' });
    } finally {
      await db.close();
    }
  });
});
