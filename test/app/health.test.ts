// GET /health with a database that does not answer: reported unreachable within its own timeout (not
// when the statement times out), with one ping in flight however often it is asked, and ok again as soon
// as the database answers.
import { Kysely, type CompiledQuery, type DatabaseConnection, type QueryResult } from 'kysely';
import { describe, expect, it } from 'vitest';
import { PoolFreeDriver, PostgresFamilyDialect, StatementConnection } from '#adapters/db/dialect';
import { createApiHandler } from '#app/api/index';
import type { Database } from '#store/schema';
import { logger } from '#shared/logger';
import { apiEvent, lambdaContext, parseResult } from '../support/api.ts';

/** A database whose statements wait until released (a silent partition), counting what it was sent. */
class StallingDatabase {
  sent = 0;
  stalled = true;
  private waiting: (() => void)[] = [];

  answer(): void {
    this.stalled = false;
    for (const release of this.waiting.splice(0)) release();
  }

  async execute<R>(): Promise<QueryResult<R>> {
    this.sent++;
    if (this.stalled) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return { rows: [] };
  }
}

function stallingKysely(database: StallingDatabase): Kysely<Database> {
  class Connection extends StatementConnection {
    protected readonly dialectName = 'stalling';
    executeQuery<R>(_query: CompiledQuery): Promise<QueryResult<R>> {
      return database.execute<R>();
    }
  }
  class Driver extends PoolFreeDriver {
    async acquireConnection(): Promise<DatabaseConnection> {
      return new Connection();
    }
    async beginTransaction(): Promise<void> {}
    async commitTransaction(): Promise<void> {}
    async rollbackTransaction(): Promise<void> {}
  }
  class Dialect extends PostgresFamilyDialect {
    createDriver() {
      return new Driver();
    }
  }
  return new Kysely<Database>({ dialect: new Dialect() });
}

function health(database: StallingDatabase) {
  const handler = createApiHandler({
    db: stallingKysely(database),
    logger,
    now: () => new Date(),
    healthChecks: { broker: async () => true },
    healthTimeoutMs: 100,
    ingest: async () => {
      throw new Error('not used');
    },
    commandQueue: { enqueue: async () => undefined },
  });
  return async () => parseResult(await handler(apiEvent({ method: 'GET', path: '/health', role: 'none' }), lambdaContext));
}

describe('GET /health with a database that does not answer', () => {
  it('answers 503 with the database unreachable after its own timeout', async () => {
    const database = new StallingDatabase();
    const get = health(database);

    const res = await get();

    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: 'degraded', checks: { database: 'unreachable', broker: 'ok' } });
    database.answer();
  });

  it('keeps one ping in flight however often it is asked', async () => {
    const database = new StallingDatabase();
    const get = health(database);

    await get();
    await get();
    await get();

    expect(database.sent).toBe(1);
    database.answer();
  });

  it('answers 200 again once the database answers', async () => {
    const database = new StallingDatabase();
    const get = health(database);
    await get();

    database.answer();
    let res = await get();
    for (let i = 0; i < 50 && res.status !== 200; i++) res = await get();

    expect(res).toMatchObject({ status: 200, body: { checks: { database: 'ok' } } });
  });
});
