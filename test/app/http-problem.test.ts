// The HTTP edge's pieces: each error kind's problem+json answer, the paging contract, the body reader.
import { describe, expect, it } from 'vitest';
import { readBody } from '#app/http/kit';
import { pagingQuery } from '#app/http/paging';
import { isExposed, statusOf, toProblem } from '#app/http/problem';
import { MeterNotFoundError, QuarantineItemResolvedError } from '#app/registry/errors';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '#shared/errors';

describe('problem+json', () => {
  it.each([
    [new ValidationError('v'), 400, 'Invalid request'],
    [new UnauthorizedError('u'), 401, 'Authentication required'],
    [new ForbiddenError('f'), 403, 'Forbidden'],
    [new NotFoundError('n'), 404, 'Not found'],
    [new ConflictError('c'), 409, 'Conflict'],
    [new PayloadTooLargeError('p'), 413, 'Payload too large'],
    [new UnsupportedMediaTypeError('m'), 415, 'Unsupported media type'],
    [new UnavailableError('d'), 503, 'Service unavailable'],
  ])('answers %s with %i and its message', (error, status, title) => {
    const problem = toProblem(error, '/x');

    expect(problem).toEqual({ type: expect.stringMatching(/^https:\/\/quantify\.dev\/problems\//) as unknown, title, status, detail: error.message, instance: '/x' });
    expect(statusOf(error)).toBe(status);
    expect(isExposed(error)).toBe(true);
  });

  it("answers an area's error as the kind it extends", () => {
    const missing = new MeterNotFoundError('m-1');
    const resolved = new QuarantineItemResolvedError('q-1', 'discarded');

    expect(toProblem(missing)).toMatchObject({ status: 404, title: 'Not found', detail: 'meter m-1 does not exist' });
    expect(toProblem(resolved)).toMatchObject({ status: 409, detail: 'quarantine item q-1 is already discarded' });
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.name).toBe('MeterNotFoundError');
  });

  it('carries field details and hides anything of no known kind behind a generic 500', () => {
    const invalid = toProblem(new ValidationError('invalid body', { errors: [{ path: 'body.x', message: 'required' }] }));
    const plain = toProblem(new AppError('internal detail'));
    const crash = toProblem(new Error('secret'));

    expect(invalid.errors).toEqual([{ path: 'body.x', message: 'required' }]);
    expect([plain.status, crash.status]).toEqual([500, 500]);
    expect(JSON.stringify([plain, crash])).not.toMatch(/internal detail|secret/);
    expect(isExposed(new AppError('x'))).toBe(false);
  });
});

describe('paging query', () => {
  it('defaults to 50 from the start and reads query strings as numbers', () => {
    expect(pagingQuery.parse({})).toEqual({ limit: 50, offset: 0 });
    expect(pagingQuery.parse({ limit: '500', offset: '20' })).toEqual({ limit: 500, offset: 20 });
  });

  it('refuses more than 500 at once, none, or a negative offset', () => {
    expect(pagingQuery.safeParse({ limit: '501' }).success).toBe(false);
    expect(pagingQuery.safeParse({ limit: '0' }).success).toBe(false);
    expect(pagingQuery.safeParse({ offset: '-1' }).success).toBe(false);
  });
});

describe('request body reader', () => {
  it('gives the bytes of a text or base64 body, and none for no body', () => {
    expect(readBody({ body: '{"a":1}', isBase64Encoded: false }).toString()).toBe('{"a":1}');
    expect(readBody({ body: Buffer.from('hé').toString('base64'), isBase64Encoded: true }).toString()).toBe('hé');
    expect(readBody({ body: undefined, isBase64Encoded: false }).length).toBe(0);
  });

  it('refuses a body past the limit as too large', () => {
    expect(() => readBody({ body: 'x'.repeat(11), isBase64Encoded: false }, 10)).toThrow(PayloadTooLargeError);
    expect(readBody({ body: 'x'.repeat(10), isBase64Encoded: false }, 10).length).toBe(10);
  });
});
