// Which database errors are weather (the database or the way to it is gone: retry) and which are the
// data's fault, across the three drivers' ways of saying so; and PGlite failing under a batch.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openPglite } from '#adapters/db/connect';
import { inTransaction } from '#store/db';
import { isDataError, isUnavailable, mapDbError } from '#store/errors';
import { UnavailableError, ValidationError } from '#shared/errors';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isUnavailable', () => {
  it.each([
    ['08006 connection failure', pgError('08006')],
    ['08001 unable to connect', pgError('08001')],
    ['57P01 terminated by an administrator (pg_terminate_backend)', pgError('57P01', 'terminating connection due to administrator command')],
    ['57P02 crash shutdown', pgError('57P02')],
    ['57P03 cannot connect now (starting up)', pgError('57P03', 'the database system is starting up')],
    ['57014 statement timeout', pgError('57014', 'canceling statement due to statement timeout')],
    ['53300 too many connections', pgError('53300')],
    ['58030 I/O error', pgError('58030', 'could not write to file')],
    ['ECONNREFUSED', pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['ECONNRESET', pgError('ECONNRESET', 'read ECONNRESET')],
    ['ETIMEDOUT', pgError('ETIMEDOUT')],
    ['a socket closed under a query', new Error('Connection terminated unexpectedly')],
    ['a connect timeout', new Error('Connection terminated due to connection timeout')],
    ['no pooled connection in time', new Error('timeout exceeded when trying to connect')],
    ['a query unanswered (silent partition)', new Error('Query read timeout')],
    ['a client that already failed', new Error('Client has encountered a connection error and is not queryable')],
    ['PGlite closed', new Error('PGlite is closed')],
    ['a WebAssembly trap in PGlite', Object.assign(new Error('unreachable'), { name: 'RuntimeError' })],
    ['the Data API with Aurora resuming', Object.assign(new Error('resuming'), { name: 'DatabaseResumingException' })],
    ['the Data API losing its link', new Error('Communications link failure')],
    ['every address refusing (AggregateError)', new AggregateError([pgError('ECONNREFUSED'), pgError('ECONNREFUSED')], '')],
    ['a cause that is unavailable', new Error('ingest failed', { cause: pgError('57P01') })],
    ['an UnavailableError', new UnavailableError('database unavailable')],
  ])('says yes for %s', (_name, error) => {
    const answer = isUnavailable(error);

    expect(answer).toBe(true);
  });

  it.each([
    ['a unique violation', pgError('23505', 'duplicate key value violates unique constraint')],
    ['NUL in text', pgError('22P05', 'unsupported Unicode escape sequence')],
    ['a syntax error', pgError('42601')],
    ['a ValidationError', new ValidationError('bad')],
    ['a plain bug', new TypeError('x is undefined')],
    ['not an error', 'Connection terminated'],
  ])('says no for %s', (_name, error) => {
    const answer = isUnavailable(error);

    expect(answer).toBe(false);
  });

  it('never calls a lost connection a data error', () => {
    const errors = [pgError('57P01'), new Error('Connection terminated unexpectedly'), pgError('ECONNREFUSED'), new Error('Query read timeout')];

    const dataErrors = errors.filter(isDataError);

    expect(dataErrors).toEqual([]);
  });
});

describe('mapDbError', () => {
  it('maps a lost connection to UnavailableError, keeping the driver error as cause', () => {
    const original = new Error('Connection terminated unexpectedly');

    const mapped = mapDbError(original, 'reading');

    expect(mapped).toBeInstanceOf(UnavailableError);
    expect((mapped as Error).cause).toBe(original);
  });
});

describe('PGlite failing under a batch', () => {
  it('surfaces as UnavailableError from a transaction, not a crash', async () => {
    const handle = await openPglite(undefined);
    let caught: unknown;

    try {
      await inTransaction(handle.db, 'batch', async (tx) => {
        await sql`SELECT 1`.execute(tx);
        await handle.close();
        await sql`SELECT 2`.execute(tx);
      });
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(UnavailableError);
  });
});
