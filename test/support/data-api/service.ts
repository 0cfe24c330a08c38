// The service: each operation's statement execution (one statement per call, batches as one unit of
// work), the transactions it keeps open by id (idle timeout, ended by an error) and the response shapes.
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { Backend, RawResult, Session } from './backends.ts';
import {
  BatchExecuteStatementSchema,
  BeginTransactionSchema,
  DataApiServiceError,
  databaseError,
  EndTransactionSchema,
  ExecuteStatementSchema,
  MAX_JSON_RESULT_BYTES,
  MAX_RESPONSE_BYTES,
  MAX_ROW_BYTES,
  parseRequest,
  type DataApiCall,
  type DataApiOperation,
  type ExecuteStatementRequest,
} from './protocol.ts';
import {
  bindNamedParameters,
  columnMetadata,
  isSupported,
  jsonValue,
  toField,
  unsupported,
  type ResultOptions,
  type TypeInfo,
} from './types.ts';

interface OpenTransaction {
  session: Session;
  busy: boolean;
  timer: NodeJS.Timeout;
}

export class DataApiService {
  readonly calls: DataApiCall[] = [];
  private readonly open = new Map<string, OpenTransaction>();
  /** Ended transactions and why, for the service's "isn't found" message (bounded). */
  private readonly ended = new Map<string, string>();
  private types = new Map<number, TypeInfo>();

  constructor(
    private readonly backend: Backend,
    private readonly transactionIdleMs: number,
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
    await this.backend.typesChanged();
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
            columnMetadata: result.fields.map((f, i) => columnMetadata(f.name, types[i])),
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
