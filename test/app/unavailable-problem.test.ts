// The HTTP edge answers a request that met an unreachable database with 503 (retry), not 500 (a bug),
// whether the store mapped the driver error or not.
import { describe, expect, it } from 'vitest';
import { toProblem } from '#app/http/problem';

describe('a request that met an unreachable database', () => {
  it('is answered 503 when the driver error reached the edge unmapped', () => {
    const error = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

    const problem = toProblem(error, '/meters');

    expect(problem).toMatchObject({ status: 503, title: 'Service unavailable', detail: 'database unavailable' });
  });

  it('still answers an unknown error 500 without its message', () => {
    const problem = toProblem(new TypeError('x is undefined'));

    expect(problem).toMatchObject({ status: 500, detail: 'an unexpected error occurred; it has been logged' });
  });
});
