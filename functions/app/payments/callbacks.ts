// Daraja's callbacks: C2B validation and confirmation, the STK Push callback, Transaction Status and
// Reversal results. Outside the JWT authorizer, each behind a secret path token (compared in constant
// time) and an optional source-IP allowlist. Every callback that passes those is stored raw before or
// atomically with what is done with it; the answer is 2xx only once what it carries is durably recorded,
// so Daraja retries whatever failed half-way. A C2B confirmation is one database call
// (daraja_callback_record: the raw row, payment_record, the outcome), a validation one statement.
import { timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import {
  c2bAccept,
  c2bCallbackSchema,
  c2bPayment,
  c2bReject,
  callbackAcknowledged,
  resultCallbackSchema,
  stkCallbackSchema,
  stkResult,
} from '#domain/mpesa';
import { storableText } from '#domain/text';
import type { Db } from '#store/db';
import * as payments from '#store/payments';
import type { DarajaCallbackKind } from '#store/schema';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '#shared/logger';
import { PayloadTooLargeError, ValidationError } from '#shared/errors';
import { readBody } from '../http/kit.ts';
import { problemResponse, toProblem } from '../http/problem.ts';
import { CallbackTokenError } from './errors.ts';
import type { PaymentEvents } from './ports.ts';
import { creditedEvent, notifyCredited } from './payments.ts';
import { applyStkResult, parse } from './stk-results.ts';

/** Daraja's bodies are a few hundred bytes; anything much larger is not Daraja. */
export const MAX_CALLBACK_BYTES = 16 * 1024;
export const MIN_CALLBACK_TOKEN_LENGTH = 32;
export const darajaCallbackPrefix = '/integrations/daraja';

const kindByPath: Record<string, DarajaCallbackKind> = {
  'c2b/validation': 'c2b_validation',
  'c2b/confirmation': 'c2b_confirmation',
  'stk/callback': 'stk_callback',
  results: 'result',
};
export const darajaCallbackPaths = Object.keys(kindByPath);

export interface DarajaCallbackDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** DARAJA_CALLBACK_TOKEN (Secrets Manager in the cloud); undefined disables the endpoints. */
  token: () => Promise<string | undefined>;
  /** DARAJA_ALLOWED_IPS: when set, callbacks from other addresses are refused like a wrong token. */
  allowedIps?: readonly string[];
  currency: string;
  events?: PaymentEvents;
  /** Payments applied (GET /metrics locally, CloudWatch in the cloud). */
  metrics?: Metrics;
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const json = (status: number, body: unknown): APIGatewayProxyResultV2 => ({
  statusCode: status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** `/integrations/daraja/{token}/{kind}` → the token and the kind, or undefined for any other path. */
export function parseCallbackPath(path: string): { token: string; kind: DarajaCallbackKind } | undefined {
  const m = /^\/integrations\/daraja\/([^/]+)\/(.+?)\/?$/.exec(path);
  const kind = m ? kindByPath[m[2] ?? ''] : undefined;
  return m && kind ? { token: decodeURIComponent(m[1] ?? ''), kind } : undefined;
}

export function darajaCallbackHandler(deps: DarajaCallbackDeps) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> => {
    const path = event.rawPath;
    const sourceIp = event.requestContext.http.sourceIp.replace(/^::ffff:/, '');
    try {
      const route = parseCallbackPath(path);
      const expected = await deps.token();
      // Wrong token, unknown kind, disabled, or an address not allowed: all the same 404, nothing stored.
      if (!route || !expected || expected.length < MIN_CALLBACK_TOKEN_LENGTH || !sameToken(route.token, expected)) {
        deps.logger.warn('daraja callback refused: unknown path or wrong token', { sourceIp });
        throw new CallbackTokenError('no such route');
      }
      if (deps.allowedIps?.length && !deps.allowedIps.includes(sourceIp)) {
        deps.logger.warn('daraja callback refused: source address not allowed', { sourceIp });
        throw new CallbackTokenError('no such route');
      }
      const raw = readBody(event, MAX_CALLBACK_BYTES);
      return await handleCallback(deps, route.kind, raw.toString('utf8'), sourceIp);
    } catch (error) {
      const problem = toProblem(error, error instanceof CallbackTokenError ? undefined : path.replace(/\/daraja\/[^/]+/, '/daraja/{token}'));
      if (error instanceof PayloadTooLargeError) deps.logger.warn('daraja callback refused: body too large', { sourceIp });
      if (problem.status >= 500) deps.logger.error('daraja callback failed; Daraja will retry', { error: error as Error });
      return problemResponse(problem);
    }
  };
}


/**
 * Store, parse and act on one callback. Each path stores the raw body in its first write, settled with
 * its outcome when that is known then (a malformed body, a validation, a result), or atomically with the
 * payment a C2B confirmation carries (daraja_callback_record: one call for the raw row, payment_record and
 * the outcome); an STK callback is stored raw first, then processed and settled.
 * Should anything fail before that write succeeded, the body is stored raw ('received') on the way out.
 */
async function handleCallback(deps: DarajaCallbackDeps, kind: DarajaCallbackKind, text: string, sourceIp: string): Promise<APIGatewayProxyResultV2> {
  // Made storable: a NUL byte cannot go into text.
  const raw = { kind, body: storableText(text), sourceIp };
  const stored = { done: false };
  try {
    return await processCallback(deps, raw, text, stored);
  } catch (error) {
    if (!stored.done) {
      await payments
        .insertCallback(deps.db, { ...raw, reason: `not processed: ${String((error as Error)?.message ?? error)}`.slice(0, 500) })
        .catch((e: unknown) => deps.logger.error('daraja callback could not be stored raw; Daraja will retry', { error: e as Error }));
    }
    throw error;
  }
}

type RawCallback = { kind: DarajaCallbackKind; body: string; sourceIp: string };

async function processCallback(deps: DarajaCallbackDeps, raw: RawCallback, text: string, stored: { done: boolean }): Promise<APIGatewayProxyResultV2> {
  const { db, now } = deps;
  const { kind } = raw;
  /** The raw callback stored with its outcome, in one statement. */
  const keep = async (o: Omit<payments.CallbackRow, keyof RawCallback>) => {
    await payments.insertCallback(db, { ...raw, ...o, processedAt: now() });
    stored.done = true;
  };
  const invalid = async (reason: string) => {
    await keep({ outcome: 'invalid', reason });
    throw new ValidationError(`invalid ${kind.replace('_', ' ')}: ${reason}`);
  };

  switch (kind) {
    case 'c2b_validation': {
      const parsed = parse(c2bCallbackSchema, text);
      // A validation we cannot read is rejected (Daraja then cancels or completes per ResponseType).
      if (!parsed.ok) {
        await keep({ outcome: 'invalid', reason: parsed.reason });
        return json(200, c2bReject('C2B00016'));
      }
      const payment = c2bPayment(parsed.value);
      // One indexed statement: the reference's account looked up and the callback stored with the answer.
      const answer = await payments.recordValidation(db, { body: raw.body, sourceIp: raw.sourceIp, reference: payment.reference, receipt: payment.receipt, at: now() });
      stored.done = true;
      return json(200, answer.outcome === 'rejected' ? c2bReject('C2B00012') : c2bAccept());
    }
    case 'c2b_confirmation': {
      const parsed = parse(c2bCallbackSchema, text);
      if (!parsed.ok) return invalid(parsed.reason);
      const payment = c2bPayment(parsed.value);
      const recorded = await payments.recordCallbackPayment(db, {
        body: raw.body,
        sourceIp: raw.sourceIp,
        at: now(),
        provider: 'mpesa',
        receipt: payment.receipt,
        channel: 'c2b',
        amountMinor: payment.amountMinor,
        currency: deps.currency,
        phone: payment.phone,
        reference: payment.reference,
        transactedAt: payment.transactedAt,
        raw: parsed.value,
      });
      stored.done = true;
      if (!recorded.ok) throw recorded.error;
      const r = recorded.payment;
      if (r.created && r.status === 'applied') await notifyCredited(deps, creditedEvent(r, payment.receipt, 'c2b', now()));
      return json(200, callbackAcknowledged());
    }
    case 'stk_callback': {
      const parsed = parse(stkCallbackSchema, text);
      if (!parsed.ok) return invalid(parsed.reason);
      const id = await payments.insertCallback(db, raw);
      stored.done = true;
      await applyStkResult(deps, id, stkResult(parsed.value), parsed.value);
      // Also when it waits for its request (see applyStkResult): it is stored, so Daraja need not retry.
      return json(200, callbackAcknowledged());
    }
    case 'result': {
      const parsed = parse(resultCallbackSchema, text);
      if (!parsed.ok) return invalid(parsed.reason);
      const r = parsed.value.Result;
      // Kept for the operator (Transaction Status / Reversal outcomes); the reversal entry itself is ours.
      await keep({ outcome: 'processed', reason: `${r.ResultCode} ${r.ResultDesc}`.slice(0, 500), receipt: r.TransactionID ?? null });
      return json(200, callbackAcknowledged());
    }
  }
}
