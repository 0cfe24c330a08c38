// Kysely dialect for the RDS Data API (Aurora PostgreSQL in the cloud). The Data API has its own type
// rules, which this file makes explicit instead of leaving them to chance:
// - parameters are named (:p0, :p1, ...): positional $n from the query compiler are renamed;
// - a string parameter reaches PostgreSQL as `character varying`; one shaped like a UUID is sent with
//   typeHint UUID so `uuid_column = :p` works (so compare text columns holding UUIDs with `::text`);
// - Date goes as typeHint TIMESTAMP in UTC; objects and arrays as JSON text with typeHint JSON (the Data
//   API has no array parameters: a batch travels as one JSON document, expanded in SQL);
// - results are converted by column type so all three drivers return the same JS values
//   (int8/numeric → number, timestamptz → Date, json/jsonb → parsed).
import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RollbackTransactionCommand,
  type ColumnMetadata,
  type Field,
  type RDSDataClient,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import { PoolFreeDriver, PostgresFamilyDialect, StatementConnection } from './dialect.ts';
import { renameParameters } from './sql-text.ts';

export interface DataApiTarget {
  client: RDSDataClient;
  resourceArn: string;
  secretArn: string;
  database: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toSqlParameter(name: string, value: unknown): SqlParameter {
  if (value === null || value === undefined) return { name, value: { isNull: true } };
  if (typeof value === 'boolean') return { name, value: { booleanValue: value } };
  if (typeof value === 'bigint') return { name, value: { longValue: Number(value) } };
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? { name, value: { longValue: value } } : { name, value: { doubleValue: value } };
  }
  if (typeof value === 'string') {
    return UUID.test(value) ? { name, value: { stringValue: value }, typeHint: 'UUID' } : { name, value: { stringValue: value } };
  }
  if (value instanceof Date) {
    // Data API TIMESTAMP format: YYYY-MM-DD HH:MM:SS[.FFF], interpreted in the session time zone (UTC).
    return { name, value: { stringValue: value.toISOString().replace('T', ' ').replace('Z', '') }, typeHint: 'TIMESTAMP' };
  }
  if (value instanceof Uint8Array) return { name, value: { blobValue: value } };
  return { name, value: { stringValue: JSON.stringify(value) }, typeHint: 'JSON' };
}

function fieldValue(field: Field, column: ColumnMetadata | undefined): unknown {
  if (field.isNull) return null;
  const type = (column?.typeName ?? '').toLowerCase();
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.blobValue !== undefined) return field.blobValue;
  if (field.arrayValue !== undefined) {
    const a = field.arrayValue;
    return a.stringValues ?? a.longValues ?? a.doubleValues ?? a.booleanValues ?? a.arrayValues ?? [];
  }
  const text = field.stringValue;
  if (text === undefined) return null;
  switch (type) {
    case 'int8':
    case 'numeric':
    case 'float4':
    case 'float8':
      return Number(text);
    case 'timestamptz':
    case 'timestamp':
      return new Date(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(text) ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}Z`);
    case 'json':
    case 'jsonb':
      return JSON.parse(text) as unknown;
    default:
      return text;
  }
}

class DataApiConnection extends StatementConnection {
  protected readonly dialectName = 'The Data API dialect';
  transactionId: string | undefined;
  constructor(private readonly target: DataApiTarget) {
    super();
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const { client, resourceArn, secretArn, database } = this.target;
    const response = await client.send(
      new ExecuteStatementCommand({
        resourceArn,
        secretArn,
        database,
        sql: renameParameters(query.sql, (i) => `:p${i}`),
        parameters: query.parameters.map((v, i) => toSqlParameter(`p${i}`, v)),
        includeResultMetadata: true,
        ...(this.transactionId ? { transactionId: this.transactionId } : {}),
      }),
    );
    const columns = response.columnMetadata ?? [];
    const rows = (response.records ?? []).map((record) => {
      const row: Record<string, unknown> = {};
      record.forEach((field, i) => {
        const column = columns[i];
        row[column?.label ?? column?.name ?? `column${i}`] = fieldValue(field, column);
      });
      return row as R;
    });
    return {
      rows,
      ...(response.numberOfRecordsUpdated !== undefined && columns.length === 0
        ? { numAffectedRows: BigInt(response.numberOfRecordsUpdated) }
        : {}),
    };
  }
}

class DataApiDriver extends PoolFreeDriver {
  constructor(private readonly target: DataApiTarget) {
    super();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new DataApiConnection(this.target);
  }
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const { client, resourceArn, secretArn, database } = this.target;
    const r = await client.send(new BeginTransactionCommand({ resourceArn, secretArn, database }));
    (connection as DataApiConnection).transactionId = r.transactionId;
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as DataApiConnection;
    const { client, resourceArn, secretArn } = this.target;
    if (c.transactionId) await client.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId: c.transactionId }));
    c.transactionId = undefined;
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as DataApiConnection;
    const { client, resourceArn, secretArn } = this.target;
    const transactionId = c.transactionId;
    c.transactionId = undefined;
    if (!transactionId) return;
    try {
      await client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }));
    } catch (error) {
      // The service ends a transaction whose statement failed ("Transaction has been aborted due to an error
      // from a previous call"), so the rollback Kysely sends next finds nothing: the transaction is already
      // rolled back, and the statement's own error is the one the caller must see.
      if (!(error instanceof Error && error.name === 'TransactionNotFoundException')) throw error;
    }
  }
}

export class DataApiDialect extends PostgresFamilyDialect {
  constructor(private readonly target: DataApiTarget) {
    super();
  }
  createDriver() {
    return new DataApiDriver(this.target);
  }
}
