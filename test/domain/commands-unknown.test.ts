// What a failed send leads to when the network server may hold its downlink anyway, and how a command of
// unknown delivery is described: never as failed.
import { describe, expect, it } from 'vitest';
import { afterUncertainSend, describeCommand } from '#domain/commands';

const at = new Date('2026-01-27T10:00:00Z');
const policy = { baseMs: 1_000, factor: 2, maxMs: 10_000 };
const failure = (uncertainty: 'no' | 'answered' | 'in_flight', retryable = true) => ({ retryable, message: 'HTTP 500 internal error', uncertainty });

describe('afterUncertainSend', () => {
  it('retries while retries remain, whatever the uncertainty', () => {
    const next = afterUncertainSend({ retryCount: 0, maxRetries: 3 }, failure('in_flight'), at, policy);

    expect(next).toEqual({ kind: 'retry', retryCount: 1, nextAttemptAt: new Date(at.getTime() + 1_000), errorMessage: 'HTTP 500 internal error' });
  });

  it('fails the last attempt when nothing can have been queued', () => {
    const next = afterUncertainSend({ retryCount: 3, maxRetries: 3 }, failure('no'), at, policy);

    expect(next.kind).toBe('fail');
  });

  it('lists the queue at once after the last attempt when the server answered with an error', () => {
    const next = afterUncertainSend({ retryCount: 3, maxRetries: 3 }, failure('answered'), at, policy);

    expect(next).toEqual({ kind: 'list_now', retryCount: 3, errorMessage: 'HTTP 500 internal error (gave up after 4 attempts)' });
  });

  it('leaves the delivery unknown after the last attempt timed out, to be looked at after the backoff', () => {
    const next = afterUncertainSend({ retryCount: 3, maxRetries: 3 }, failure('in_flight'), at, policy);

    expect(next).toEqual({ kind: 'unknown', retryCount: 3, resolveAt: new Date(at.getTime() + 8_000), errorMessage: 'HTTP 500 internal error' });
  });

  it('does not fail a non-retryable answer that may have queued the item (an unreadable 2xx) without a look', () => {
    const next = afterUncertainSend({ retryCount: 0, maxRetries: 3 }, failure('answered', false), at, policy);

    expect(next.kind).toBe('list_now');
  });
});

describe('describeCommand of unknown delivery', () => {
  it('says the network server may hold the downlink, not that it failed', () => {
    const text = describeCommand({ status: 'sent', deliveryState: 'unknown', commandType: 'relay_on', confirmed: false, scheduledAt: null, nextAttemptAt: new Date(at.getTime() + 60_000), errorMessage: 'no response within 5000 ms' }, at);

    expect(text).toMatch(/^delivery unknown: the network server may hold the downlink/);
    expect(text).toContain(`checked at ${new Date(at.getTime() + 60_000).toISOString()}`);
    expect(text).not.toMatch(/failed/);
  });

  it('says a retry after an unknown outcome looks at the queue first', () => {
    const text = describeCommand({ status: 'queued', deliveryState: 'unknown', commandType: 'relay_on', confirmed: false, scheduledAt: null, nextAttemptAt: new Date(at.getTime() + 30_000), errorMessage: 'HTTP 503' }, at);

    expect(text).toContain('the retry checks its queue first');
  });
});
