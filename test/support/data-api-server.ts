// A local stand-in for the RDS Data API (Aurora PostgreSQL, Serverless v2 / provisioned), executing on real
// PostgreSQL (node-postgres) or PGlite, so the Data API dialect is tested against the typing rules it meets
// when deployed. It speaks the REST/JSON protocol the AWS SDK v3 RDSDataClient uses (POST /Execute,
// /BatchExecute, /BeginTransaction, /CommitTransaction, /RollbackTransaction; errors as HTTP status +
// `x-amzn-ErrorType` + {message}), and is deliberately strict where the real service is:
// - named parameters only (:name); a stringValue reaches PostgreSQL as `character varying`, typeHint
//   UUID/JSON/TIMESTAMP/DATE/TIME/DECIMAL as uuid/json/timestamp/date/time/numeric, longValue as int8,
//   doubleValue as float8, booleanValue as bool, blobValue as bytea, isNull as an untyped NULL;
//   arrayValue parameters are refused;
// - one statement per call (the extended protocol refuses several);
// - results as Field unions: int2/int4/int8 → longValue, float4/float8 → doubleValue, bool → booleanValue,
//   bytea → blobValue, everything else (numeric, uuid, json/jsonb, dates, times) → stringValue, timestamptz
//   in UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]'; a column of a type the service does not support fails with
//   UnsupportedResultException (e.g. void, regtype, interval);
// - SQL errors are DatabaseErrorException "ERROR: …[\n  Detail: …][\n  Hint: …][\n  Position: n]; SQLState: XXXXX";
//   an error inside a transaction ends it, so later calls (rollback included) get TransactionNotFoundException.
// Sources (AWS docs): API_SqlParameter (typeHint formats), data-api-operations (supported PostgreSQL types,
// JDBC → Field mapping, "always returns TIMESTAMPTZ in UTC"), data-api-json (formatRecordsAs JSON mapping,
// 10 MB limit), data-api.calling.cli (response shapes, 4 MiB request, 1 MiB response, 3-minute transaction
// timeout, "Transaction Committed" / "Rollback Complete"), data-api.troubleshooting (transaction not found
// and its causes, 64 KB per row, "Transaction is still running a query", multi-statements and the schema
// parameter refused on Serverless v2), data-api.limitations. Error shapes seen from the service in public
// reports: aws/aws-cli#8577 and cloud-utils/aurora-data-api#53 (DatabaseErrorException "…; SQLState: …"),
// ArsenyYankovsky/typeorm-aurora-data-api-driver#164 ("The result contains the unsupported data type regtype.").
// The SDK's model marks BadRequestException deprecated; it is used here for malformed requests only.
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { z } from 'zod';
import { rewriteCode } from '#adapters/db/sql-text';

/** Where the emulator executes: real PostgreSQL (optionally inside one schema) or a PGlite instance. */
export type DataApiExecutor = { connectionString: string; searchPath?: string } | PGlite;

export type DataApiOperation =
  | 'ExecuteStatement'
  | 'BatchExecuteStatement'
  | 'BeginTransaction'
  | 'CommitTransaction'
  | 'RollbackTransaction';

/** One call the emulator received, for tests that count round trips. */
export interface DataApiCall {
  operation: DataApiOperation;
  sql?: string;
  transactionId?: string;
  parameterCount?: number;
}

export interface DataApiServerOptions {
  /** A transaction not used for this long is rolled back (the service: three minutes). */
  transactionIdleMs?: number;
  /** PGlite is one connection: how long a call waits for a transaction that holds it. */
  pgliteLockWaitMs?: number;
}

export interface DataApiServer {
  endpoint: string;
  /** Every call received, in order. */
  readonly calls: readonly DataApiCall[];
  count(operation: DataApiOperation): number;
  resetCalls(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Errors, in the service's shapes (status codes from the SDK's model of each exception).

type ServiceErrorType =
  | 'BadRequestException'
  | 'DatabaseErrorException'
  | 'TransactionNotFoundException'
  | 'UnsupportedResultException'
  | 'InternalServerErrorException'
  | 'UnknownOperationException';

const STATUS: Record<ServiceErrorType, number> = {
  BadRequestException: 400,
  DatabaseErrorException: 400,
  TransactionNotFoundException: 404,
  UnsupportedResultException: 400,
  InternalServerErrorException: 500,
  UnknownOperationException: 404,
};

class DataApiServiceError extends Error {
  override name = 'DataApiServiceError';
  constructor(
    readonly type: ServiceErrorType,
    message: string,
  ) {
    super(message);
  }
}

const PostgresErrorSchema = z.object({
  message: z.string(),
  code: z.string().regex(/^[0-9A-Z]{5}$/),
  severity: z.string().optional(),
  detail: z.string().optional(),
  hint: z.string().optional(),
  position: z.union([z.string(), z.number()]).optional(),
  where: z.string().optional(),
});

/** PostgreSQL's error as the service reports it (pgjdbc's ServerErrorMessage text plus the SQLState). */
function databaseError(error: unknown): DataApiServiceError {
  const parsed = PostgresErrorSchema.safeParse(error);
  if (!parsed.success) {
    const text = error instanceof Error ? error.message : String(error);
    return new DataApiServiceError('InternalServerErrorException', `[emulator] ${text}`);
  }
  const e = parsed.data;
  let text = `${e.severity ?? 'ERROR'}: ${e.message}`;
  if (e.detail) text += `\n  Detail: ${e.detail}`;
  if (e.hint) text += `\n  Hint: ${e.hint}`;
  if (e.position !== undefined && e.position !== '') text += `\n  Position: ${e.position}`;
  if (e.where) text += `\n  Where: ${e.where}`;
  return new DataApiServiceError('DatabaseErrorException', `${text}; SQLState: ${e.code}`);
}

// ---------------------------------------------------------------------------------------------------------
// Requests (API reference: ExecuteStatement, BatchExecuteStatement, Begin/Commit/RollbackTransaction).

const TYPE_HINTS = ['JSON', 'UUID', 'TIMESTAMP', 'DATE', 'TIME', 'DECIMAL'] as const;
type TypeHint = (typeof TYPE_HINTS)[number];

const FieldSchema = z
  .object({
    isNull: z.boolean().optional(),
    booleanValue: z.boolean().optional(),
    longValue: z.number().int().optional(),
    doubleValue: z.number().optional(),
    stringValue: z.string().optional(),
    blobValue: z.string().optional(),
    arrayValue: z.unknown().optional(),
  })
  .strict();
type RequestField = z.infer<typeof FieldSchema>;

const SqlParameterSchema = z.object({
  name: z.string().optional(),
  value: FieldSchema.optional(),
  typeHint: z.enum(TYPE_HINTS).optional(),
});
type SqlParameter = z.infer<typeof SqlParameterSchema>;

const Common = {
  resourceArn: z.string().min(1),
  secretArn: z.string().min(1),
  database: z.string().optional(),
  schema: z.string().optional(),
};
const Sql = z.string().min(1).max(65536);

const ExecuteStatementSchema = z.object({
  ...Common,
  sql: Sql,
  parameters: z.array(SqlParameterSchema).optional(),
  transactionId: z.string().optional(),
  includeResultMetadata: z.boolean().optional(),
  continueAfterTimeout: z.boolean().optional(),
  resultSetOptions: z
    .object({
      decimalReturnType: z.enum(['STRING', 'DOUBLE_OR_LONG']).optional(),
      longReturnType: z.enum(['STRING', 'LONG']).optional(),
    })
    .optional(),
  formatRecordsAs: z.enum(['NONE', 'JSON']).optional(),
});
type ExecuteStatementRequest = z.infer<typeof ExecuteStatementSchema>;

const BatchExecuteStatementSchema = z.object({
  ...Common,
  sql: Sql,
  parameterSets: z.array(z.array(SqlParameterSchema)).optional(),
  transactionId: z.string().optional(),
});
const BeginTransactionSchema = z.object(Common);
const EndTransactionSchema = z.object({
  resourceArn: z.string().min(1),
  secretArn: z.string().min(1),
  transactionId: z.string().min(1),
});

function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new DataApiServiceError('BadRequestException', z.prettifyError(parsed.error));
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------------------
// Parameters: named → positional, each bound with the type the service gives it.

type BoundValue = string | number | boolean | Uint8Array | null;

interface BoundParameter {
  cast: string | undefined;
  value: BoundValue;
}

const TIMESTAMP_FORMAT = /^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}(\.\d{1,9})?$/;
const DATE_FORMAT = /^\d{4}-\d{1,2}-\d{1,2}$/;
const TIME_FORMAT = /^\d{1,2}:\d{1,2}:\d{1,2}(\.\d{1,9})?$/;
const HINT_CAST: Record<TypeHint, string> = {
  JSON: 'json',
  UUID: 'uuid',
  TIMESTAMP: 'timestamp',
  DATE: 'date',
  TIME: 'time',
  DECIMAL: 'numeric',
};

function bindParameter(parameter: SqlParameter): BoundParameter {
  const field: RequestField = parameter.value ?? {};
  const members = Object.entries(field).filter(([, v]) => v !== undefined);
  if (members.length !== 1) {
    throw new DataApiServiceError('BadRequestException', `Parameter ${parameter.name ?? ''} must have exactly one value`);
  }
  if (field.arrayValue !== undefined) throw new DataApiServiceError('BadRequestException', 'Array parameters are not supported');
  if (field.isNull) return { cast: undefined, value: null };
  if (field.booleanValue !== undefined) return { cast: 'bool', value: field.booleanValue };
  if (field.longValue !== undefined) return { cast: 'int8', value: field.longValue };
  if (field.doubleValue !== undefined) return { cast: 'float8', value: field.doubleValue };
  if (field.blobValue !== undefined) return { cast: 'bytea', value: new Uint8Array(Buffer.from(field.blobValue, 'base64')) };
  const text = field.stringValue ?? '';
  const hint = parameter.typeHint;
  if (hint === 'TIMESTAMP' && !TIMESTAMP_FORMAT.test(text)) {
    throw new DataApiServiceError('BadRequestException', 'Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]');
  }
  if (hint === 'DATE' && !DATE_FORMAT.test(text)) throw new DataApiServiceError('BadRequestException', 'Date format must be yyyy-mm-dd');
  if (hint === 'TIME' && !TIME_FORMAT.test(text)) throw new DataApiServiceError('BadRequestException', 'Time format must be hh:mm:ss[.fff]');
  return { cast: hint ? HINT_CAST[hint] : 'varchar', value: text };
}

const NAMED_PARAMETER = /(?<![:\w$]):([A-Za-z_][A-Za-z0-9_]*)/g;

/** Rewrite :name to $n::type outside strings, quoted identifiers, dollar quotes and comments (`::` casts stay). */
export function bindNamedParameters(sql: string, parameters: readonly SqlParameter[]): { text: string; values: BoundValue[] } {
  const byName = new Map<string, BoundParameter>();
  for (const parameter of parameters) {
    if (!parameter.name) throw new DataApiServiceError('BadRequestException', 'Parameter name is required');
    byName.set(parameter.name, bindParameter(parameter));
  }
  const positions = new Map<string, number>();
  const values: BoundValue[] = [];
  const text = rewriteCode(sql, (code) =>
    code.replace(NAMED_PARAMETER, (_match, name: string) => {
      const bound = byName.get(name);
      if (!bound) throw new DataApiServiceError('BadRequestException', `No value specified for parameter: ${name}`);
      let position = positions.get(name);
      if (position === undefined) {
        values.push(bound.value);
        position = values.length;
        positions.set(name, position);
      }
      return bound.cast ? `$${position}::${bound.cast}` : `$${position}`;
    }),
  );
  return { text, values };
}

// ---------------------------------------------------------------------------------------------------------
// Results: PostgreSQL text values → Field unions and column metadata.

interface TypeInfo {
  oid: number;
  name: string;
  type: string; // pg_type.typtype: b base, e enum, d domain, ...
  category: string; // pg_type.typcategory: A array, ...
  elem: number;
}

// data-api-operations: the PostgreSQL scalar and array types the service returns (timestamptz: see its note).
const SUPPORTED_SCALARS = new Set([
  'bool', 'bytea', 'date', 'cidr', 'numeric', 'float8', 'inet', 'int4', 'int2', 'int8', 'jsonb', 'json',
  'float4', 'text', 'bpchar', 'varchar', 'name', 'time', 'timestamp', 'timestamptz', 'uuid', 'vector', 'bit',
]);
const SUPPORTED_ARRAY_ELEMENTS = new Set([
  'bool', 'bit', 'date', 'numeric', 'float8', 'int4', 'int2', 'int8', 'json', 'float4', 'text', 'bpchar',
  'varchar', 'name', 'time', 'timestamp', 'uuid',
]);
// java.sql.Types as pgjdbc reports them (columnMetadata.type).
const JDBC_TYPE: Record<string, number> = {
  bool: -7, bit: -7, int2: 5, int4: 4, int8: -5, float4: 7, float8: 8, numeric: 2, bpchar: 1, varchar: 12,
  text: 12, name: 12, date: 91, time: 92, timestamp: 93, timestamptz: 93, bytea: -2,
};

export interface ResultOptions {
  decimalReturnType?: 'STRING' | 'DOUBLE_OR_LONG' | undefined;
  longReturnType?: 'STRING' | 'LONG' | undefined;
}

type ResponseField =
  | { isNull: true }
  | { booleanValue: boolean }
  | { longValue: number }
  | { doubleValue: number }
  | { stringValue: string }
  | { blobValue: string }
  | { arrayValue: ResponseArray };
type ResponseArray =
  | { longValues: (number | null)[] }
  | { doubleValues: (number | null)[] }
  | { booleanValues: (boolean | null)[] }
  | { stringValues: (string | null)[] }
  | { arrayValues: ResponseArray[] };

type PgArray = (string | null | PgArray)[];

/** PostgreSQL's text form of an array ({a,"b c",NULL,{1,2}}) as nested lists of element texts. */
function parseArrayText(text: string): PgArray {
  let i = Math.max(0, text.indexOf('{'));
  const list = (): PgArray => {
    i++; // '{'
    const items: PgArray = [];
    if (text[i] === '}') {
      i++;
      return items;
    }
    while (i < text.length) {
      if (text[i] === '{') items.push(list());
      else if (text[i] === '"') {
        let value = '';
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i] ?? '';
          i++;
        }
        i++;
        items.push(value);
      } else {
        const start = i;
        while (i < text.length && text[i] !== ',' && text[i] !== '}') i++;
        const raw = text.slice(start, i).trim();
        items.push(raw === 'NULL' ? null : raw);
      }
      if (text[i] === ',') {
        i++;
        continue;
      }
      i++; // '}'
      break;
    }
    return items;
  };
  return list();
}

/** timestamptz as the service returns it: in UTC, without the offset. */
export function formatTimestamptz(text: string): string {
  const m = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-]\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(text);
  if (!m) return text; // infinity and BC dates pass through as PostgreSQL prints them
  const [, y, mo, d, h, mi, s, fraction = '', offsetHours = '+00', offsetMinutes = '00', offsetSeconds = '00'] = m;
  const sign = offsetHours.startsWith('-') ? -1 : 1;
  const offset = sign * (Math.abs(Number(offsetHours)) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds));
  if (offset === 0) return `${y}-${mo}-${d} ${h}:${mi}:${s}${fraction}`;
  const utc = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) - offset * 1000);
  const iso = utc.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction}`;
}

function unsupported(type: TypeInfo): DataApiServiceError {
  return new DataApiServiceError('UnsupportedResultException', `The result contains the unsupported data type ${type.name}.`);
}

function isSupported(type: TypeInfo, types: ReadonlyMap<number, TypeInfo>): boolean {
  if (type.category === 'A') {
    const elem = types.get(type.elem);
    return elem !== undefined && (SUPPORTED_ARRAY_ELEMENTS.has(elem.name) || elem.type === 'e');
  }
  return SUPPORTED_SCALARS.has(type.name) || type.type === 'e';
}

function arrayValue(items: PgArray, elem: string): ResponseArray {
  if (items.some((item) => Array.isArray(item))) {
    return { arrayValues: items.map((item) => arrayValue(Array.isArray(item) ? item : [item], elem)) };
  }
  const texts = items.filter((item): item is string | null => !Array.isArray(item));
  if (elem === 'int2' || elem === 'int4' || elem === 'int8') return { longValues: texts.map((t) => (t === null ? null : Number(t))) };
  if (elem === 'float4' || elem === 'float8') return { doubleValues: texts.map((t) => (t === null ? null : Number(t))) };
  if (elem === 'bool' || elem === 'bit') return { booleanValues: texts.map((t) => (t === null ? null : t === 't' || t === '1')) };
  return { stringValues: texts };
}

function toField(text: string | null, type: TypeInfo, types: ReadonlyMap<number, TypeInfo>, options: ResultOptions): ResponseField {
  if (text === null) return { isNull: true };
  if (type.category === 'A') return { arrayValue: arrayValue(parseArrayText(text), types.get(type.elem)?.name ?? 'text') };
  switch (type.name) {
    case 'bool':
      return { booleanValue: text === 't' };
    case 'bit':
      return { booleanValue: text === '1' };
    case 'int2':
    case 'int4':
    case 'int8':
      return options.longReturnType === 'STRING' ? { stringValue: text } : { longValue: Number(text) };
    case 'float4':
    case 'float8':
      return { doubleValue: Number(text) };
    case 'numeric':
      if (options.decimalReturnType !== 'DOUBLE_OR_LONG') return { stringValue: text };
      return text.includes('.') ? { doubleValue: Number(text) } : { longValue: Number(text) };
    case 'bytea':
      return { blobValue: Buffer.from(text.startsWith('\\x') ? text.slice(2) : text, 'hex').toString('base64') };
    case 'timestamptz':
      return { stringValue: formatTimestamptz(text) };
    default:
      return { stringValue: text };
  }
}

function jsonValue(field: ResponseField): unknown {
  if ('isNull' in field) return null;
  if ('booleanValue' in field) return field.booleanValue;
  if ('longValue' in field) return field.longValue;
  if ('doubleValue' in field) return field.doubleValue;
  if ('stringValue' in field) return field.stringValue;
  if ('blobValue' in field) return field.blobValue;
  const unwrap = (a: ResponseArray): unknown[] =>
    'arrayValues' in a ? a.arrayValues.map(unwrap) : 'longValues' in a ? a.longValues : 'doubleValues' in a ? a.doubleValues : 'booleanValues' in a ? a.booleanValues : a.stringValues;
  return unwrap(field.arrayValue);
}

// ---------------------------------------------------------------------------------------------------------
// Backends: a session is one database connection; the emulator holds one per open transaction.

interface RawResult {
  command: string;
  affected: number;
  fields: { name: string; dataTypeID: number }[];
  rows: (string | null)[][];
}

interface Session {
  run(sql: string, values: BoundValue[]): Promise<RawResult>;
  release(): void;
}

interface Backend {
  session(holder: string): Promise<Session>;
  close(): Promise<void>;
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
  async refreshParsers(): Promise<void> {
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

// ---------------------------------------------------------------------------------------------------------
// The service.

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const MAX_RESPONSE_BYTES = 1024 * 1024;
const MAX_ROW_BYTES = 64 * 1024;
const MAX_JSON_RESULT_BYTES = 10 * 1024 * 1024;

interface OpenTransaction {
  session: Session;
  busy: boolean;
  timer: NodeJS.Timeout;
}

const ROUTES: Record<string, DataApiOperation> = {
  '/Execute': 'ExecuteStatement',
  '/BatchExecute': 'BatchExecuteStatement',
  '/BeginTransaction': 'BeginTransaction',
  '/CommitTransaction': 'CommitTransaction',
  '/RollbackTransaction': 'RollbackTransaction',
};

class DataApiService {
  readonly calls: DataApiCall[] = [];
  private readonly open = new Map<string, OpenTransaction>();
  /** Ended transactions and why, for the service's "isn't found" message (bounded). */
  private readonly ended = new Map<string, string>();
  private types = new Map<number, TypeInfo>();

  constructor(
    private readonly backend: Backend,
    private readonly transactionIdleMs: number,
    private readonly onTypesChanged: () => Promise<void>,
  ) {}

  /** Read pg_type (on the caller's connection when it has one: a transaction may hold PGlite's only one). */
  async loadTypes(on?: Session): Promise<void> {
    const session = on ?? (await this.backend.session('the type catalogue'));
    try {
      const result = await session.run('SELECT oid::text, typname::text, typtype::text, typcategory::text, typelem::text FROM pg_type', []);
      this.types = new Map(
        result.rows.map(([oid, name, type, category, elem]) => [
          Number(oid),
          { oid: Number(oid), name: name ?? '', type: type ?? '', category: category ?? '', elem: Number(elem) },
        ]),
      );
    } finally {
      if (!on) session.release();
    }
    await this.onTypesChanged();
  }

  async handle(operation: DataApiOperation, body: unknown): Promise<unknown> {
    switch (operation) {
      case 'ExecuteStatement':
        return this.executeStatement(parseRequest(ExecuteStatementSchema, body));
      case 'BatchExecuteStatement':
        return this.batchExecuteStatement(parseRequest(BatchExecuteStatementSchema, body));
      case 'BeginTransaction':
        return this.beginTransaction(parseRequest(BeginTransactionSchema, body));
      case 'CommitTransaction':
        return this.endTransaction(parseRequest(EndTransactionSchema, body).transactionId, 'COMMIT');
      case 'RollbackTransaction':
        return this.endTransaction(parseRequest(EndTransactionSchema, body).transactionId, 'ROLLBACK');
    }
  }

  private rejectSchema(schema: string | undefined): void {
    if (schema !== undefined) {
      throw new DataApiServiceError('BadRequestException', "The schema parameter isn't supported for Aurora Serverless v2 and provisioned clusters");
    }
  }

  private async executeStatement(request: ExecuteStatementRequest): Promise<unknown> {
    this.calls.push({
      operation: 'ExecuteStatement',
      sql: request.sql,
      ...(request.transactionId ? { transactionId: request.transactionId } : {}),
      parameterCount: request.parameters?.length ?? 0,
    });
    this.rejectSchema(request.schema);
    const { text, values } = bindNamedParameters(request.sql, request.parameters ?? []);
    // Results are converted before the call ends, so a conversion failure ends a transaction like any error.
    return this.onSession(request.transactionId, async (session) => {
      const result = await session.run(text, values);
      if (result.fields.some((f) => !this.types.has(f.dataTypeID))) await this.loadTypes(session);
      return this.response(result, request);
    });
  }

  private async batchExecuteStatement(request: z.infer<typeof BatchExecuteStatementSchema>): Promise<unknown> {
    this.calls.push({
      operation: 'BatchExecuteStatement',
      sql: request.sql,
      ...(request.transactionId ? { transactionId: request.transactionId } : {}),
      parameterCount: request.parameterSets?.length ?? 0,
    });
    this.rejectSchema(request.schema);
    const sets = request.parameterSets?.length ? request.parameterSets : [[]];
    const bound = sets.map((set) => bindNamedParameters(request.sql, set));
    const updateResults = await this.onSession(request.transactionId, async (session) => {
      // Without a transaction the batch is one unit of work (a JDBC batch under one commit).
      const own = request.transactionId === undefined;
      if (own) await session.run('BEGIN', []);
      try {
        const results: { generatedFields: [] }[] = [];
        for (const { text, values } of bound) {
          const result = await session.run(text, values);
          // pgjdbc's executeBatch refuses statements that return rows.
          if (result.fields.length > 0) {
            throw new DataApiServiceError('DatabaseErrorException', 'A result was returned when none was expected.; SQLState: 0100E');
          }
          results.push({ generatedFields: [] });
        }
        if (own) await session.run('COMMIT', []);
        return results;
      } catch (error) {
        if (own) await session.run('ROLLBACK', []).catch(() => undefined);
        throw error;
      }
    });
    return { updateResults };
  }

  private async beginTransaction(request: z.infer<typeof BeginTransactionSchema>): Promise<unknown> {
    this.rejectSchema(request.schema);
    const transactionId = randomBytes(48).toString('base64');
    this.calls.push({ operation: 'BeginTransaction', transactionId });
    const session = await this.backend.session(`transaction ${transactionId}`);
    try {
      await session.run('BEGIN', []);
    } catch (error) {
      session.release();
      throw databaseError(error);
    }
    this.open.set(transactionId, { session, busy: false, timer: this.idleTimer(transactionId) });
    return { transactionId };
  }

  private async endTransaction(transactionId: string, command: 'COMMIT' | 'ROLLBACK'): Promise<unknown> {
    this.calls.push({ operation: command === 'COMMIT' ? 'CommitTransaction' : 'RollbackTransaction', transactionId });
    const transaction = this.transaction(transactionId);
    if (transaction.busy) throw new DataApiServiceError('DatabaseErrorException', 'Transaction is still running a query');
    transaction.busy = true;
    try {
      await transaction.session.run(command, []);
    } catch (error) {
      await transaction.session.run('ROLLBACK', []).catch(() => undefined);
      throw databaseError(error);
    } finally {
      this.finish(transactionId, 'One previous call resulted in a termination of your transaction.');
    }
    return { transactionStatus: command === 'COMMIT' ? 'Transaction Committed' : 'Rollback Complete' };
  }

  private transaction(transactionId: string): OpenTransaction {
    const transaction = this.open.get(transactionId);
    if (transaction) return transaction;
    const cause = this.ended.get(transactionId) ?? 'Transaction may be expired.';
    throw new DataApiServiceError('TransactionNotFoundException', `Transaction ${transactionId} isn't found. ${cause}`);
  }

  private idleTimer(transactionId: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const transaction = this.open.get(transactionId);
      if (!transaction || transaction.busy) return;
      transaction.busy = true;
      void transaction.session
        .run('ROLLBACK', [])
        .catch(() => undefined)
        .finally(() => this.finish(transactionId, 'Transaction may be expired.'));
    }, this.transactionIdleMs);
    timer.unref();
    return timer;
  }

  private finish(transactionId: string, cause: string): void {
    const transaction = this.open.get(transactionId);
    if (!transaction) return;
    clearTimeout(transaction.timer);
    this.open.delete(transactionId);
    transaction.session.release();
    this.ended.set(transactionId, cause);
    if (this.ended.size > 1000) {
      const oldest = this.ended.keys().next();
      if (!oldest.done) this.ended.delete(oldest.value);
    }
  }

  /** Run on the transaction's connection, or on a connection of its own that commits on its own. */
  private async onSession<T>(transactionId: string | undefined, work: (session: Session) => Promise<T>): Promise<T> {
    if (transactionId === undefined) {
      const session = await this.backend.session('a statement outside any transaction');
      try {
        return await work(session);
      } catch (error) {
        throw error instanceof DataApiServiceError ? error : databaseError(error);
      } finally {
        session.release();
      }
    }
    const transaction = this.transaction(transactionId);
    if (transaction.busy) throw new DataApiServiceError('DatabaseErrorException', 'Transaction is still running a query');
    transaction.busy = true;
    clearTimeout(transaction.timer);
    try {
      const result = await work(transaction.session);
      transaction.timer = this.idleTimer(transactionId);
      return result;
    } catch (error) {
      // The service ends a transaction whose call failed; later calls with its id are not found.
      await transaction.session.run('ROLLBACK', []).catch(() => undefined);
      this.finish(transactionId, 'Transaction has been aborted due to an error from a previous call.');
      throw error instanceof DataApiServiceError ? error : databaseError(error);
    } finally {
      transaction.busy = false;
    }
  }

  private response(result: RawResult, request: ExecuteStatementRequest): unknown {
    if (result.fields.length === 0) {
      const dml = /^(INSERT|UPDATE|DELETE|MERGE|COPY)\b/.test(result.command);
      return { numberOfRecordsUpdated: dml ? result.affected : 0, generatedFields: [] };
    }
    const types = result.fields.map((f) => this.types.get(f.dataTypeID) ?? { oid: f.dataTypeID, name: String(f.dataTypeID), type: '', category: '', elem: 0 });
    for (const type of types) if (!isSupported(type, this.types)) throw unsupported(type);
    const options: ResultOptions = request.resultSetOptions ?? {};
    const records = result.rows.map((row) => {
      const fields = types.map((type, i) => toField(row[i] ?? null, type, this.types, options));
      if (row.reduce((size, v) => size + (v === null ? 0 : Buffer.byteLength(v)), 0) > MAX_ROW_BYTES) {
        throw new DataApiServiceError('DatabaseErrorException', 'Packet for query is too large. The Data API size limit is 64 KB per row');
      }
      return fields;
    });
    // A statement that returns rows reports no update count (JDBC: execute() returned a result set).
    if (request.formatRecordsAs === 'JSON') {
      const labels = result.fields.map((f) => f.name);
      if (new Set(labels).size !== labels.length) {
        throw new DataApiServiceError('BadRequestException', 'The result set contains duplicate column names, which JSON format does not allow');
      }
      const formattedRecords = JSON.stringify(
        records.map((fields) => Object.fromEntries(fields.map((field, i): [string, unknown] => [labels[i] ?? '', jsonValue(field)]))),
      );
      if (Buffer.byteLength(formattedRecords) > MAX_JSON_RESULT_BYTES) {
        throw new DataApiServiceError('BadRequestException', 'The JSON response exceeds the 10 MB limit');
      }
      return { numberOfRecordsUpdated: 0, formattedRecords };
    }
    if (Buffer.byteLength(JSON.stringify(records)) > MAX_RESPONSE_BYTES) {
      throw new DataApiServiceError('DatabaseErrorException', 'Database response exceeded size limit');
    }
    return {
      numberOfRecordsUpdated: 0,
      records,
      ...(request.includeResultMetadata
        ? {
            columnMetadata: result.fields.map((f, i) => {
              const type = types[i];
              const typeName = type?.name ?? '';
              return {
                name: f.name,
                label: f.name,
                typeName,
                type: type?.category === 'A' ? 2003 : (JDBC_TYPE[typeName] ?? 1111),
                arrayBaseColumnType: 0,
                isAutoIncrement: false,
                isCaseSensitive: ['text', 'varchar', 'bpchar', 'name'].includes(typeName),
                isCurrency: false,
                isSigned: ['int2', 'int4', 'int8', 'float4', 'float8', 'numeric'].includes(typeName),
                nullable: 2,
                precision: 0,
                scale: 0,
                schemaName: '',
                tableName: '',
              };
            }),
          }
        : {}),
    };
  }

  async close(): Promise<void> {
    for (const [id, transaction] of [...this.open]) {
      await transaction.session.run('ROLLBACK', []).catch(() => undefined);
      this.finish(id, 'Transaction may be expired.');
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP.

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_REQUEST_BYTES) {
      throw new DataApiServiceError('BadRequestException', 'Request size exceeds the 4 MiB limit of the Data API');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: http.ServerResponse, status: number, body: unknown, errorType?: ServiceErrorType): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
    ...(errorType ? { 'x-amzn-ErrorType': errorType } : {}),
  });
  res.end(text);
}

export async function startDataApiServer(executor: DataApiExecutor, options: DataApiServerOptions = {}): Promise<DataApiServer> {
  let backend: Backend;
  let onTypesChanged = async () => {};
  if ('connectionString' in executor) {
    backend = new PostgresBackend(executor.connectionString, executor.searchPath);
  } else {
    // Aurora's default time zone is UTC; timestamp parameters are read in it.
    await executor.exec(`SET TIME ZONE 'UTC'`);
    const pglite = new PgliteBackend(executor, options.pgliteLockWaitMs ?? 10_000);
    backend = pglite;
    onTypesChanged = () => pglite.refreshParsers();
  }
  const service = new DataApiService(backend, options.transactionIdleMs ?? 180_000, onTypesChanged);
  await service.loadTypes();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const operation = req.method === 'POST' ? ROUTES[(req.url ?? '').split('?')[0] ?? ''] : undefined;
    try {
      if (!operation) throw new DataApiServiceError('UnknownOperationException', `No operation at ${req.method ?? ''} ${req.url ?? ''}`);
      const text = await readBody(req);
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : {};
      } catch {
        throw new DataApiServiceError('BadRequestException', 'The request body is not valid JSON');
      }
      send(res, 200, await service.handle(operation, body));
    } catch (error) {
      const serviceError = error instanceof DataApiServiceError ? error : databaseError(error);
      send(res, STATUS[serviceError.type], { message: serviceError.message }, serviceError.type);
    }
  };

  const server = http.createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: service.calls,
    count: (operation) => service.calls.filter((c) => c.operation === operation).length,
    resetCalls: () => {
      service.calls.length = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await service.close();
      await backend.close();
    },
  };
}
