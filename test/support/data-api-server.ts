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
// This file is the HTTP server; the parts are in data-api/: protocol (the JSON shapes, limits, errors), types
// (parameter and result typing rules), backends (PostgreSQL, PGlite) and service (statements, transactions).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openBackend, type DataApiExecutor } from './data-api/backends.ts';
import {
  databaseError,
  DataApiServiceError,
  MAX_REQUEST_BYTES,
  ROUTES,
  STATUS,
  type DataApiCall,
  type DataApiOperation,
  type ServiceErrorType,
} from './data-api/protocol.ts';
import { DataApiService } from './data-api/service.ts';

export type { DataApiCall } from './data-api/protocol.ts';

interface DataApiServerOptions {
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

/** The emulator on a free port of 127.0.0.1, executing on `executor`. */
export async function startDataApiServer(executor: DataApiExecutor, options: DataApiServerOptions = {}): Promise<DataApiServer> {
  const backend = await openBackend(executor, options.pgliteLockWaitMs ?? 10_000);
  const service = new DataApiService(backend, options.transactionIdleMs ?? 180_000);
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
