// The API's Lambda handler over a test database (PGlite, or PostgreSQL when DATABASE_URL is set), for one
// test file: opened before its tests, closed after them, and the ledger's invariants checked after each.
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { apiRoutes, createApiHandler } from '#app/api/index';
import type { AppDeps } from '#app/deps';
import type { Db } from '#store/db';
import { invariantViolations } from '#store/ledger';
import { logger } from '#shared/logger';
import { apiEvent, lambdaContext, parseResult, type EventInput, type Parsed } from './api.ts';
import { openTestDb, type TestDb } from './db.ts';

export interface ApiHarness {
  /** The test database (once the file's tests have started). */
  readonly db: Db;
  /** One request through the handler, its answer parsed. */
  call(input: EventInput): Promise<Parsed>;
}

/** Call at the top of a test file: registers the file's hooks and returns the harness they fill. */
export function apiHandlerOverTestDb(): ApiHarness {
  let testDb: TestDb | undefined;
  let handler: ReturnType<typeof createApiHandler> | undefined;
  beforeAll(async () => {
    logger.setLogLevel('SILENT');
    testDb = await openTestDb();
    const deps: AppDeps = {
      db: testDb.db,
      logger,
      now: () => new Date(),
      healthChecks: {},
      ingest: () => Promise.reject(new Error('not used')),
      commandQueue: { enqueue: () => Promise.resolve() },
    };
    handler = createApiHandler(deps, apiRoutes());
  });
  afterAll(async () => {
    await testDb?.close();
  });
  afterEach(async () => {
    if (testDb) expect(await invariantViolations(testDb.db)).toEqual([]);
  });
  return {
    get db() {
      if (!testDb) throw new Error('the test database opens in beforeAll');
      return testDb.db;
    },
    async call(input) {
      if (!handler) throw new Error('the API handler is built in beforeAll');
      return parseResult(await handler(apiEvent(input), lambdaContext));
    },
  };
}
