// The Data API dialect as deployed: Kysely → RDSDataClient (real SDK, real HTTP) → a local Data API
// (test/support/data-api-server.ts) that types parameters and results the way the service does, executing on
// real PostgreSQL when DATABASE_URL is set (in a schema of its own) and on PGlite otherwise.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbHandle } from '#adapters/db/connect';
import { loadMigrations, migrate, type MigrateResult } from '#adapters/db/migrate';
import { splitStatements } from '#adapters/db/sql-text';
import { startDataApiServer, type DataApiCall, type DataApiServer } from '../support/data-api-server.ts';
import { dataApiTarget, openDataApiTestDb } from '../support/data-api.ts';
import { backendName, databaseUrl } from '../support/db.ts';

const target = dataApiTarget;

let server: DataApiServer;
let client: RDSDataClient;
let handle: DbHandle;
let firstMigration: MigrateResult;
let migrationCalls: DataApiCall[];
let pglite: PGlite | undefined;

function pgliteOf(): PGlite {
  if (!pglite) throw new Error('no PGlite in this run');
  return pglite;
}

beforeAll(async () => {
  const opened = await openDataApiTestDb({ migrate: false });
  ({ server, client, pglite } = opened);
  handle = opened;
  firstMigration = await migrate(handle.db, await loadMigrations());
  migrationCalls = [...server.calls];
});

afterAll(async () => {
  await handle?.close();
});

/** The error a call fails with (the SDK's exceptions carry the service's error type as their name). */
async function rejection(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** One raw call through the SDK, as the dialect would make it. */
function execute(sqlText: string, parameters: SqlParameter[] = [], extra: { transactionId?: string } = {}) {
  return client.send(new ExecuteStatementCommand({ ...target, sql: sqlText, parameters, includeResultMetadata: true, ...extra }));
}

async function registerMeter(): Promise<{ meterId: string; deviceId: string; meterNo: string }> {
  const meterNo = `M${randomBytes(5).toString('hex')}`;
  const meter = await handle.db
    .insertInto('meters')
    .values({ meter_no: meterNo, meter_type: 'electricity', unit: 'kWh' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const device = await handle.db
    .insertInto('devices')
    .values({ kind: 'esp32', meter_no: meterNo, device_type: 'esp32-meter', decoder: 'esp32' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { meterId: meter.id, deviceId: device.id, meterNo };
}

describe(`Data API dialect over the local Data API (${backendName})`, () => {
  describe('migrations', () => {
    it('applies schema/ through the Data API, one statement per call', () => {
      // Prepare: beforeAll migrated a fresh database through the emulator.
      const executed = migrationCalls.filter((c) => c.operation === 'ExecuteStatement');

      // Assess
      expect(firstMigration.applied).toContain('0001_init');
      expect(executed.length).toBeGreaterThan(20);
      for (const call of executed) expect(splitStatements(call.sql ?? '')).toHaveLength(1);
      expect(migrationCalls.filter((c) => c.operation === 'CommitTransaction').length).toBe(firstMigration.applied.length);
    });

    it('applies nothing the second time', async () => {
      // Act
      const again = await migrate(handle.db, await loadMigrations());

      // Assess
      expect(again.applied).toEqual([]);
      expect(again.alreadyApplied).toBe(firstMigration.applied.length);
    });
  });

  describe('values round-trip through Kysely', () => {
    it('returns uuid, text, int8 and numeric as numbers, timestamptz as Date and jsonb as an object', async () => {
      // Prepare
      const meterNo = `M${randomBytes(5).toString('hex')}`;
      const lastSeen = new Date('2025-03-04T05:06:07.891Z');
      const config = { pulsesPerUnit: 1000, display: { codes: ['FREE', 'BUSY'], bright: true }, note: "it's \"quoted\"" };

      // Act
      const { id } = await handle.db
        .insertInto('devices')
        .values({
          kind: 'esp32',
          meter_no: meterNo,
          device_type: 'esp32-meter',
          decoder: 'esp32',
          config,
          last_f_cnt: 9_007_199_254_740_991,
          battery_level: 87.25,
          expected_uplink_interval_s: 900,
          last_seen_at: lastSeen,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const device = await handle.db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

      // Assess
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(device.meter_no).toBe(meterNo);
      expect(device.config).toEqual(config);
      expect(device.capabilities).toEqual({});
      expect(device.last_f_cnt).toBe(9_007_199_254_740_991);
      expect(device.battery_level).toBe(87.25);
      expect(device.expected_uplink_interval_s).toBe(900);
      expect(device.last_seen_at).toBeInstanceOf(Date);
      expect(device.last_seen_at?.toISOString()).toBe('2025-03-04T05:06:07.891Z');
      expect(device.created_at).toBeInstanceOf(Date);
      expect(device.joined_at).toBeNull();
    });

    it('writes and reads booleans', async () => {
      // Prepare
      const meterNo = `M${randomBytes(5).toString('hex')}`;

      // Act
      await handle.db
        .insertInto('meters')
        .values({ meter_no: meterNo, meter_type: 'water', unit: 'm3', is_prepaid: false, last_reading: 1234.000001 })
        .execute();
      const meter = await handle.db
        .selectFrom('meters')
        .select(['is_prepaid', 'is_active', 'last_reading'])
        .where('meter_no', '=', meterNo)
        .executeTakeFirstOrThrow();

      // Assess
      expect(meter).toEqual({ is_prepaid: false, is_active: true, last_reading: 1234.000001 });
    });

    it('finds a row by a UUID-shaped id and reports the rows an update changed', async () => {
      // Prepare
      const { meterId } = await registerMeter();

      // Act
      const updated = await handle.db
        .updateTable('meters')
        .set({ relay_state: 'off', relay_state_at: new Date('2025-01-01T00:00:00.001Z') })
        .where('id', '=', meterId)
        .executeTakeFirst();
      const meter = await handle.db.selectFrom('meters').select(['id', 'relay_state', 'relay_state_at']).where('id', '=', meterId).executeTakeFirst();

      // Assess
      expect(updated.numUpdatedRows).toBe(1n);
      expect(meter).toEqual({ id: meterId, relay_state: 'off', relay_state_at: new Date('2025-01-01T00:00:00.001Z') });
    });
  });

  describe('transactions', () => {
    it('commits', async () => {
      // Prepare
      const meterNo = `M${randomBytes(5).toString('hex')}`;

      // Act
      await handle.db.transaction().execute(async (trx) => {
        await trx.insertInto('meters').values({ meter_no: meterNo, meter_type: 'electricity', unit: 'kWh' }).execute();
      });

      // Assess
      const found = await handle.db.selectFrom('meters').select('meter_no').where('meter_no', '=', meterNo).execute();
      expect(found).toHaveLength(1);
    });

    it('rolls back when the work throws', async () => {
      // Prepare
      const meterNo = `M${randomBytes(5).toString('hex')}`;

      // Act
      const attempt = handle.db.transaction().execute(async (trx) => {
        await trx.insertInto('meters').values({ meter_no: meterNo, meter_type: 'electricity', unit: 'kWh' }).execute();
        throw new Error('changed my mind');
      });

      // Assess
      await expect(attempt).rejects.toThrow('changed my mind');
      const found = await handle.db.selectFrom('meters').select('meter_no').where('meter_no', '=', meterNo).execute();
      expect(found).toEqual([]);
    });

    it('surfaces the database error when a statement fails inside a transaction', async () => {
      // Prepare: the service ends a transaction whose call failed, so the rollback that follows finds nothing.
      const meterNo = `M${randomBytes(5).toString('hex')}`;

      // Act
      const attempt = handle.db.transaction().execute(async (trx) => {
        await trx.insertInto('meters').values({ meter_no: meterNo, meter_type: 'electricity', unit: 'kWh' }).execute();
        await trx.insertInto('meters').values({ meter_no: meterNo, meter_type: 'electricity', unit: 'kWh' }).execute();
      });

      // Assess
      const error = await rejection(attempt);
      expect(error.name).toBe('DatabaseErrorException');
      expect(error.message).toMatch(/^ERROR: duplicate key value violates unique constraint "meters_meter_no_key"\n {2}Detail: .*; SQLState: 23505$/);
      const found = await handle.db.selectFrom('meters').select('meter_no').where('meter_no', '=', meterNo).execute();
      expect(found).toEqual([]);
    });

    it('refuses a transaction id the service does not know', async () => {
      // Act
      const attempt = execute('SELECT 1 AS one', [], { transactionId: 'not-a-transaction' });

      // Assess
      await expect(attempt).rejects.toMatchObject({ name: 'TransactionNotFoundException' });
    });

    it('forgets a transaction once it is rolled back', async () => {
      // Prepare
      const { transactionId } = await client.send(new BeginTransactionCommand(target));
      await client.send(new RollbackTransactionCommand({ ...target, transactionId }));

      // Act
      const attempt = execute('SELECT 1 AS one', [], transactionId ? { transactionId } : {});

      // Assess
      const error = await rejection(attempt);
      expect(error.name).toBe('TransactionNotFoundException');
      expect(error.message).toContain('One previous call resulted in a termination of your transaction.');
    });
  });

  describe('transactions as the service keeps them', () => {
    it('ends a transaction left idle past its timeout', async () => {
      // Prepare: a second endpoint on the same database with a short idle timeout (the service: three minutes).
      const impatient = await startDataApiServer(databaseUrl ? { connectionString: databaseUrl } : pgliteOf(), { transactionIdleMs: 50 });
      const impatientClient = new RDSDataClient({ endpoint: impatient.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });
      try {
        const { transactionId } = await impatientClient.send(new BeginTransactionCommand(target));
        await new Promise((resolve) => setTimeout(resolve, 300));

        // Act
        const error = await rejection(
          impatientClient.send(new ExecuteStatementCommand({ ...target, sql: 'SELECT 1 AS one', ...(transactionId ? { transactionId } : {}) })),
        );

        // Assess
        expect(error.name).toBe('TransactionNotFoundException');
        expect(error.message).toContain('Transaction may be expired.');
      } finally {
        impatientClient.destroy();
        await impatient.close();
      }
    });

    it.runIf(databaseUrl)('refuses a second call while the transaction is still running one', async () => {
      // Prepare
      const { transactionId = '' } = await client.send(new BeginTransactionCommand(target));

      // Act
      const outcomes = await Promise.allSettled([
        execute('SELECT 1 AS one FROM pg_sleep(0.3)', [], { transactionId }),
        execute('SELECT 2 AS two', [], { transactionId }),
      ]);
      await client.send(new RollbackTransactionCommand({ ...target, transactionId }));

      // Assess
      const refused = outcomes.filter((o) => o.status === 'rejected');
      expect(refused).toHaveLength(1);
      expect(refused[0]?.reason).toMatchObject({ name: 'DatabaseErrorException', message: 'Transaction is still running a query' });
    });

    it('runs a BatchExecuteStatement once per parameter set, all or nothing', async () => {
      // Prepare
      const prefix = randomBytes(5).toString('hex');
      const insert = `INSERT INTO quarantine (source, reason_code, reason, payload, dedup_key) VALUES ('batch', 'x', 'x', '{}', :key)`;
      const keys = (suffixes: string[]) => suffixes.map((suffix) => [{ name: 'key', value: { stringValue: `${prefix}-${suffix}` } }]);

      // Act
      const ok = await client.send(new BatchExecuteStatementCommand({ ...target, sql: insert, parameterSets: keys(['a', 'b', 'c']) }));
      const duplicate = await rejection(client.send(new BatchExecuteStatementCommand({ ...target, sql: insert, parameterSets: keys(['d', 'a']) })));

      // Assess
      expect(ok.updateResults).toHaveLength(3);
      expect(duplicate.name).toBe('DatabaseErrorException');
      const stored = await handle.db.selectFrom('quarantine').select('dedup_key').where('source', '=', 'batch').where('dedup_key', 'like', `${prefix}-%`).orderBy('dedup_key').execute();
      expect(stored.map((r) => r.dedup_key)).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
    });
  });

  describe('batches travel as one JSON document', () => {
    it('inserts 100 meter readings with one ExecuteStatement call', async () => {
      // Prepare
      const { meterId, deviceId, meterNo } = await registerMeter();
      const start = Date.parse('2025-06-01T00:00:00.000Z');
      const readings = Array.from({ length: 100 }, (_, i) => ({
        source_key: `${meterNo}:${start + i * 60_000}`,
        reading_value: 1000 + i * 0.25,
        reading_date: new Date(start + i * 60_000).toISOString(),
        extra: { seq: i },
      }));
      server.resetCalls();

      // Act
      const result = await sql`
        INSERT INTO meter_readings (meter_id, device_id, source_key, reading_value, reading_date, extra)
        SELECT ${meterId}, ${deviceId}, r.source_key, r.reading_value, r.reading_date, r.extra
        FROM jsonb_to_recordset(CAST(${readings} AS jsonb))
          AS r(source_key text, reading_value numeric, reading_date timestamptz, extra jsonb)`.execute(handle.db);
      const calls = server.count('ExecuteStatement');

      // Assess
      expect(calls).toBe(1);
      expect(server.calls[0]?.parameterCount).toBe(3);
      expect(result.numAffectedRows).toBe(100n);
      const stored = await handle.db
        .selectFrom('meter_readings')
        .select(['source_key', 'reading_value', 'reading_date', 'extra'])
        .where('meter_id', '=', meterId)
        .orderBy('reading_date', 'desc')
        .limit(1)
        .executeTakeFirstOrThrow();
      expect(stored).toEqual({
        source_key: `${meterNo}:${start + 99 * 60_000}`,
        reading_value: 1024.75,
        reading_date: new Date(start + 99 * 60_000),
        extra: { seq: 99 },
      });
    });
  });

  describe('the service typing is enforced (the pitfalls the dialect must avoid)', () => {
    it('binds each kind of parameter with the type the service gives it', async () => {
      // Act
      const result = await execute(
        `SELECT pg_typeof(:text)::text AS text, pg_typeof(:uuid)::text AS uuid, pg_typeof(:json)::text AS json,
                pg_typeof(:ts)::text AS ts, pg_typeof(:long)::text AS long, pg_typeof(:double)::text AS double,
                pg_typeof(:bool)::text AS bool, pg_typeof(:dec)::text AS dec, pg_typeof(:blob)::text AS blob,
                ':not_a_parameter'::text AS quoted, 1::int8 AS cast`,
        [
          { name: 'text', value: { stringValue: 'hello' } },
          { name: 'uuid', value: { stringValue: randomUUID() }, typeHint: 'UUID' },
          { name: 'json', value: { stringValue: '{"a":1}' }, typeHint: 'JSON' },
          { name: 'ts', value: { stringValue: '2025-01-02 03:04:05.678' }, typeHint: 'TIMESTAMP' },
          { name: 'long', value: { longValue: 5 } },
          { name: 'double', value: { doubleValue: 1.5 } },
          { name: 'bool', value: { booleanValue: true } },
          { name: 'dec', value: { stringValue: '12.34' }, typeHint: 'DECIMAL' },
          { name: 'blob', value: { blobValue: new Uint8Array([1, 2, 3]) } },
        ],
      );

      // Assess
      expect(result.records?.[0]?.map((f) => f.stringValue ?? f.longValue)).toEqual([
        'character varying',
        'uuid',
        'json',
        'timestamp without time zone',
        'bigint',
        'double precision',
        'boolean',
        'numeric',
        'bytea',
        ':not_a_parameter',
        1,
      ]);
    });

    it('returns timestamptz as a UTC string, numeric and jsonb as strings, with their type names', async () => {
      // Act
      const result = await execute(
        `SELECT '2024-05-06 07:08:09.123456+03'::timestamptz AS at, 12.50::numeric(6,2) AS amount,
                '{"b": [1, 2]}'::jsonb AS doc, 42::int8 AS n, true AS flag, '\\x0102'::bytea AS raw, NULL::text AS nothing`,
      );

      // Assess
      expect(result.records?.[0]).toEqual([
        { stringValue: '2024-05-06 04:08:09.123456' },
        { stringValue: '12.50' },
        { stringValue: '{"b": [1, 2]}' },
        { longValue: 42 },
        { booleanValue: true },
        { blobValue: new Uint8Array([1, 2]) },
        { isNull: true },
      ]);
      expect(result.columnMetadata?.map((c) => c.typeName)).toEqual(['timestamptz', 'numeric', 'jsonb', 'int8', 'bool', 'bytea', 'text']);
    });

    it('refuses a JSON object sent as a plain string into a jsonb column (no typeHint)', async () => {
      // Prepare
      const meterNo = `M${randomBytes(5).toString('hex')}`;
      const insert = `INSERT INTO devices (kind, meter_no, device_type, decoder, config) VALUES ('esp32', :meterNo, 'esp32-meter', 'esp32', :config)`;

      // Act
      const untyped = execute(insert, [
        { name: 'meterNo', value: { stringValue: meterNo } },
        { name: 'config', value: { stringValue: '{"pulsesPerUnit":1000}' } },
      ]);

      // Assess
      const error = await rejection(untyped);
      expect(error.name).toBe('DatabaseErrorException');
      expect(error.message).toMatch(/^ERROR: column "config" is of type jsonb but expression is of type character varying\n {2}Hint: .*cast the expression/);
      const hinted = await execute(insert, [
        { name: 'meterNo', value: { stringValue: meterNo } },
        { name: 'config', value: { stringValue: '{"pulsesPerUnit":1000}' }, typeHint: 'JSON' },
      ]);
      expect(hinted.numberOfRecordsUpdated).toBe(1);
    });

    it('refuses a UUID-shaped value compared with a text column unless it is cast to text', async () => {
      // Prepare: the dialect sends every UUID-shaped string with typeHint UUID.
      const key = randomUUID();
      await handle.db.insertInto('quarantine').values({ source: 'test', reason_code: 'x', reason: 'x', payload: '{}', dedup_key: key }).execute();

      // Act
      const uncast = handle.db.selectFrom('quarantine').select('dedup_key').where('dedup_key', '=', key).execute();
      const error = await rejection(uncast);
      const cast = await handle.db.selectFrom('quarantine').select('dedup_key').where('dedup_key', '=', sql<string>`${key}::text`).execute();

      // Assess
      expect(error.name).toBe('DatabaseErrorException');
      expect(error.message).toContain('operator does not exist: text = uuid');
      expect(cast).toEqual([{ dedup_key: key }]);
    });

    it('refuses strings written to numeric, timestamptz and jsonb columns (they travel as character varying)', async () => {
      // Prepare: schema-types lets these columns be written as strings, which node-postgres and PGlite accept.
      const { meterId } = await registerMeter();
      const write = (values: { last_reading?: string; last_reading_date?: string }) =>
        handle.db.updateTable('meters').set(values).where('id', '=', meterId).execute();
      const deviceWithConfig = (config: string) =>
        handle.db
          .insertInto('devices')
          .values({ kind: 'esp32', meter_no: `M${randomBytes(5).toString('hex')}`, device_type: 'x', decoder: 'x', config })
          .execute();

      // Act
      const numeric = await rejection(write({ last_reading: '12.5' }));
      const timestamp = await rejection(write({ last_reading_date: '2025-01-01T00:00:00Z' }));
      const json = await rejection(deviceWithConfig('{"a":1}'));

      // Assess
      expect([numeric.name, timestamp.name, json.name]).toEqual(['DatabaseErrorException', 'DatabaseErrorException', 'DatabaseErrorException']);
      expect(numeric.message).toContain('column "last_reading" is of type numeric but expression is of type character varying');
      expect(timestamp.message).toContain('column "last_reading_date" is of type timestamp with time zone but expression is of type character varying');
      expect(json.message).toContain('column "config" is of type jsonb but expression is of type character varying');
    });

    it('refuses array parameters', async () => {
      // Act
      const attempt = execute('SELECT :ids AS ids', [{ name: 'ids', value: { arrayValue: { longValues: [1, 2] } } }]);

      // Assess
      await expect(attempt).rejects.toMatchObject({ name: 'BadRequestException', message: 'Array parameters are not supported' });
    });

    it('refuses several statements in one call', async () => {
      // Act
      const attempt = execute('SELECT 1 AS one; SELECT 2 AS two');

      // Assess
      const error = await rejection(attempt);
      expect(error.name).toBe('DatabaseErrorException');
      expect(error.message).toContain('cannot insert multiple commands into a prepared statement');
    });

    it('refuses a result column of a type the service does not return (void)', async () => {
      // Act
      const attempt = execute('SELECT pg_sleep(0) AS slept');

      // Assess
      await expect(attempt).rejects.toMatchObject({ name: 'UnsupportedResultException', message: 'The result contains the unsupported data type void.' });
    });

    it('refuses a TIMESTAMP hint that is not in the documented format', async () => {
      // Act
      const attempt = execute('SELECT :at AS at', [{ name: 'at', value: { stringValue: '2025-01-02T03:04:05Z' }, typeHint: 'TIMESTAMP' }]);

      // Assess
      await expect(attempt).rejects.toMatchObject({ name: 'BadRequestException' });
    });

    it('formats records as JSON when asked', async () => {
      // Act
      const result = await client.send(
        new ExecuteStatementCommand({
          ...target,
          sql: `SELECT 17 AS n, 'x' AS s, 2.5::numeric AS d, NULL::text AS z, '{"k":1}'::jsonb AS j`,
          formatRecordsAs: 'JSON',
        }),
      );

      // Assess
      expect(result.records).toBeUndefined();
      expect(result.columnMetadata).toBeUndefined();
      expect(JSON.parse(result.formattedRecords ?? '')).toEqual([{ n: 17, s: 'x', d: '2.5', z: null, j: '{"k": 1}' }]);
    });
  });
});
