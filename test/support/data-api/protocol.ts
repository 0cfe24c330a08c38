// The Data API's wire protocol as the AWS SDK v3 RDSDataClient speaks it: the operations and their routes,
// the request shapes, the Field unions of responses, the size limits and the errors in the service's shapes.
import { z } from 'zod';

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

/** The REST routes of the operations (POST). */
export const ROUTES: Record<string, DataApiOperation> = {
  '/Execute': 'ExecuteStatement',
  '/BatchExecute': 'BatchExecuteStatement',
  '/BeginTransaction': 'BeginTransaction',
  '/CommitTransaction': 'CommitTransaction',
  '/RollbackTransaction': 'RollbackTransaction',
};

// Limits (data-api.calling.cli, data-api.troubleshooting, data-api-json).
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
export const MAX_RESPONSE_BYTES = 1024 * 1024;
export const MAX_ROW_BYTES = 64 * 1024;
export const MAX_JSON_RESULT_BYTES = 10 * 1024 * 1024;

// Errors, in the service's shapes (status codes from the SDK's model of each exception).

export type ServiceErrorType =
  | 'BadRequestException'
  | 'DatabaseErrorException'
  | 'TransactionNotFoundException'
  | 'UnsupportedResultException'
  | 'InternalServerErrorException'
  | 'UnknownOperationException';

export const STATUS: Record<ServiceErrorType, number> = {
  BadRequestException: 400,
  DatabaseErrorException: 400,
  TransactionNotFoundException: 404,
  UnsupportedResultException: 400,
  InternalServerErrorException: 500,
  UnknownOperationException: 404,
};

export class DataApiServiceError extends Error {
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
export function databaseError(error: unknown): DataApiServiceError {
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

// Requests (API reference: ExecuteStatement, BatchExecuteStatement, Begin/Commit/RollbackTransaction).

const TYPE_HINTS = ['JSON', 'UUID', 'TIMESTAMP', 'DATE', 'TIME', 'DECIMAL'] as const;
export type TypeHint = (typeof TYPE_HINTS)[number];

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
export type RequestField = z.infer<typeof FieldSchema>;

const SqlParameterSchema = z.object({
  name: z.string().optional(),
  value: FieldSchema.optional(),
  typeHint: z.enum(TYPE_HINTS).optional(),
});
export type SqlParameter = z.infer<typeof SqlParameterSchema>;

const Common = {
  resourceArn: z.string().min(1),
  secretArn: z.string().min(1),
  database: z.string().optional(),
  schema: z.string().optional(),
};
const Sql = z.string().min(1).max(65536);

export const ExecuteStatementSchema = z.object({
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
export type ExecuteStatementRequest = z.infer<typeof ExecuteStatementSchema>;

export const BatchExecuteStatementSchema = z.object({
  ...Common,
  sql: Sql,
  parameterSets: z.array(z.array(SqlParameterSchema)).optional(),
  transactionId: z.string().optional(),
});
export const BeginTransactionSchema = z.object(Common);
export const EndTransactionSchema = z.object({
  resourceArn: z.string().min(1),
  secretArn: z.string().min(1),
  transactionId: z.string().min(1),
});

export function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new DataApiServiceError('BadRequestException', z.prettifyError(parsed.error));
  return parsed.data;
}

// Responses: Field unions.

export type ResponseField =
  | { isNull: true }
  | { booleanValue: boolean }
  | { longValue: number }
  | { doubleValue: number }
  | { stringValue: string }
  | { blobValue: string }
  | { arrayValue: ResponseArray };
export type ResponseArray =
  | { longValues: (number | null)[] }
  | { doubleValues: (number | null)[] }
  | { booleanValues: (boolean | null)[] }
  | { stringValues: (string | null)[] }
  | { arrayValues: ResponseArray[] };
