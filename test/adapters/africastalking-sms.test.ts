// The Africa's Talking SMS adapter against a fake of their messaging API on loopback (no internet), and the
// notification drain through it on a real database (PGlite, or PostgreSQL with DATABASE_URL).
//
// The fake answers as Africa's Talking documents its SMS API: POST /version1/messaging, form-encoded
// username, to, message (and from), the key in the apiKey header, Accept: application/json; the answer is
// {"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: KES 0.8000","Recipients":[{"statusCode":101,
// "number":"+254712345678","status":"Success","cost":"KES 0.8000","messageId":"ATXid_..."}]}}.
// Sources: the official Node SDK README (AfricasTalkingLtd/africastalking-node.js, "Sending SMS": to,
// from, message), a form-encoded call with the apiKey header to
// https://api.sandbox.africastalking.com/version1/messaging (wyclifft/my-pwa-app test.js), the response
// shape (https://www.mintlify.com/DaggieBlanqx/Google-Africastalking-AI-Course/api/sms-utils) and the
// recipient status codes 100 Processed, 101 Sent, 102 Queued, 401 RiskHold, 402 InvalidSenderId,
// 403 InvalidPhoneNumber, 404 UnsupportedNumberType, 405 InsufficientBalance, 406 UserInBlacklist,
// 407 CouldNotRoute, 409 DoNotDisturbRejection, 500 InternalServerError, 501 GatewayError,
// 502 RejectedByGateway (https://pkg.go.dev/github.com/hekimapro/utils@v1.1.0/communication).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { africasTalkingSms, AT_LIVE_URL, AT_SANDBOX_URL } from '#adapters/africastalking-sms';
import { drainNotifications, SmsRejectedError } from '#app/notifications/notifications';
import { enqueueNotification } from '#store/notifications';
import { localSmsSender } from '#runtime/sms-sink';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';

interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  form: Record<string, string>;
}

/** What the fake answers for a recipient number: an HTTP status and a body, or a dropped connection. */
type Answer = { status: number; body: unknown } | 'drop';

const recipient = (statusCode: number, status: string, number: string) => ({
  SMSMessageData: {
    Message: statusCode < 200 ? 'Sent to 1/1 Total Cost: KES 0.8000' : 'Sent to 0/1 Total Cost: 0',
    Recipients: [{ statusCode, number, status, cost: statusCode < 200 ? 'KES 0.8000' : '0', messageId: statusCode < 200 ? `ATXid_${randomUUID().slice(0, 8)}` : 'None' }],
  },
});

let server: http.Server;
let baseUrl: string;
const received: Received[] = [];
const answers = new Map<string, Answer>();

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  server = http.createServer((req, res) => {
    // A fresh connection per request: an idle keep-alive socket closed by the server while the client reuses
    // it would fail a request at random (the adapter rightly retries that, but the test wants each answer).
    res.setHeader('connection', 'close');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, form });
      if (req.url !== '/version1/messaging' || req.method !== 'POST') return void res.writeHead(404).end('Not found');
      if (req.headers.apikey !== 'test-key') return void res.writeHead(401, { 'content-type': 'text/plain' }).end('The supplied authentication is invalid');
      const answer = answers.get(form.to ?? '') ?? { status: 201, body: recipient(101, 'Success', form.to ?? '') };
      if (answer === 'drop') return void req.socket.destroy();
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

beforeEach(() => {
  received.length = 0;
  answers.clear();
});

const sender = (overrides: Partial<Parameters<typeof africasTalkingSms>[0]> = {}) => africasTalkingSms({ username: 'sandbox', apiKey: 'test-key', baseUrl, timeoutMs: 2_000, ...overrides });

describe("Africa's Talking SMS adapter", () => {
  it('posts the form with the key header and returns the message id on success', async () => {
    const { messageId } = await sender({ from: 'QUANTIFY' }).send('+254711000001', 'Payment of KES 100.00 received. Balance KES 250.00');

    expect(messageId).toMatch(/^ATXid_/);
    expect(received).toHaveLength(1);
    const [r] = received;
    expect(r!.path).toBe('/version1/messaging');
    expect(r!.headers.accept).toBe('application/json');
    expect(r!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(r!.headers.apikey).toBe('test-key');
    expect(r!.form).toEqual({ username: 'sandbox', to: '+254711000001', message: 'Payment of KES 100.00 received. Balance KES 250.00', from: 'QUANTIFY' });
  });

  it('counts Processed (100) and Queued (102) as sent, and omits from when no sender id is set', async () => {
    answers.set('+254711000002', { status: 201, body: recipient(100, 'Processed', '+254711000002') });
    answers.set('+254711000003', { status: 201, body: recipient(102, 'Queued', '+254711000003') });
    await expect(sender().send('+254711000002', 'x')).resolves.toMatchObject({ messageId: expect.stringMatching(/^ATXid_/) as unknown });
    await expect(sender().send('+254711000003', 'x')).resolves.toMatchObject({ messageId: expect.stringMatching(/^ATXid_/) as unknown });
    expect(received.every((r) => !('from' in r.form))).toBe(true);
  });

  it('rejects for good a bad number, a blacklisted one and a bad request, with the reason', async () => {
    answers.set('+254711000403', { status: 201, body: recipient(403, 'InvalidPhoneNumber', '+254711000403') });
    answers.set('+254711000406', { status: 201, body: recipient(406, 'UserInBlacklist', '+254711000406') });
    answers.set('+254711000400', { status: 400, body: { error: 'bad request' } });
    answers.set('+254711000000', { status: 201, body: { SMSMessageData: { Message: 'InvalidSenderId', Recipients: [] } } });

    await expect(sender().send('+254711000403', 'x')).rejects.toThrow(new SmsRejectedError("Africa's Talking: InvalidPhoneNumber (statusCode 403)"));
    await expect(sender().send('+254711000406', 'x')).rejects.toThrow(/UserInBlacklist \(statusCode 406\)/);
    await expect(sender().send('+254711000406', 'x')).rejects.toBeInstanceOf(SmsRejectedError);
    await expect(sender().send('+254711000400', 'x')).rejects.toBeInstanceOf(SmsRejectedError);
    await expect(sender().send('+254711000000', 'x')).rejects.toThrow(/sent to no recipient: InvalidSenderId/);
  });

  it('leaves provider errors, HTTP 5xx, a wrong key and a dropped connection to be retried', async () => {
    answers.set('+254711000500', { status: 201, body: recipient(500, 'InternalServerError', '+254711000500') });
    answers.set('+254711000502', { status: 201, body: recipient(502, 'RejectedByGateway', '+254711000502') });
    answers.set('+254711000503', { status: 503, body: { error: 'unavailable' } });
    answers.set('+254711000999', 'drop');

    for (const to of ['+254711000500', '+254711000502', '+254711000503', '+254711000999']) {
      const error = await sender().send(to, 'x').catch((e: unknown) => e);
      expect(error, to).toBeInstanceOf(Error);
      expect(error, to).not.toBeInstanceOf(SmsRejectedError);
    }
    const wrongKey = await sender({ apiKey: 'wrong' }).send('+254711000001', 'x').catch((e: unknown) => e);
    expect(wrongKey).not.toBeInstanceOf(SmsRejectedError);
    expect((wrongKey as Error).message).toMatch(/HTTP 401/);
    const noKey = await sender({ apiKey: async () => undefined }).send('+254711000001', 'x').catch((e: unknown) => e);
    expect((noKey as Error).message).toMatch(/no API key/);
  });

  it('talks to the sandbox for username "sandbox", else to the live API, unless told otherwise', async () => {
    const urls: string[] = [];
    const fakeFetch = (async (input: string | URL | Request) => {
      urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return new Response(JSON.stringify(recipient(101, 'Success', '+254711000001')), { status: 201 });
    }) as typeof fetch;
    await africasTalkingSms({ username: 'sandbox', apiKey: 'k', fetch: fakeFetch }).send('+254711000001', 'x');
    await africasTalkingSms({ username: 'quantify', apiKey: 'k', fetch: fakeFetch }).send('+254711000001', 'x');
    expect(urls).toEqual([`${AT_SANDBOX_URL}/version1/messaging`, `${AT_LIVE_URL}/version1/messaging`]);
  });

  it('is what the local platform uses only when AT_USERNAME and AT_API_KEY are set', async () => {
    const local = localSmsSender({}, logger);
    expect((await local.send('+254711000001', 'x')).messageId).toMatch(/^local-/);
    expect(received).toHaveLength(0);
    const at = localSmsSender({ AT_USERNAME: 'sandbox', AT_API_KEY: 'test-key', AT_BASE_URL: baseUrl }, logger);
    expect((await at.send('+254711000001', 'x')).messageId).toMatch(/^ATXid_/);
    expect(received).toHaveLength(1);
  });
});

describe("the notification drain through Africa's Talking", () => {
  let testDb: TestDb;

  beforeAll(async () => {
    testDb = await openTestDb();
  });
  afterAll(async () => {
    await testDb?.close();
  });

  it('marks a sent one with the provider id, fails a rejected one at once and backs off a retryable one', async () => {
    const customer = await testDb.db.insertInto('customers').values({ name: 'SMS' }).returning('id').executeTakeFirstOrThrow();
    const account = await testDb.db.insertInto('accounts').values({ customer_id: customer.id, account_no: `S${randomUUID().slice(0, 8)}` }).returning('id').executeTakeFirstOrThrow();
    const queue = (to: string, key: string) => enqueueNotification(testDb.db, { accountId: account.id, recipient: to, template: 'payment_received', body: `hello ${key}`, dedupeKey: key, urgent: true });
    await queue('+254711100001', 'ok');
    await queue('+254711100406', 'blacklisted');
    await queue('+254711100500', 'flaky');
    answers.set('+254711100406', { status: 201, body: recipient(406, 'UserInBlacklist', '+254711100406') });
    answers.set('+254711100500', { status: 201, body: recipient(500, 'InternalServerError', '+254711100500') });
    const rows = async () =>
      (await sql<{ dedupe_key: string; status: string; attempts: number; provider_message_id: string | null; last_error: string | null; next_attempt_at: Date }>`
        SELECT dedupe_key, status, attempts, provider_message_id, last_error, next_attempt_at FROM notifications ORDER BY dedupe_key`.execute(testDb.db)).rows;

    // The drain's clock, an hour past the real one (a notification is due from when it was queued).
    const t0 = Math.ceil(Date.now() / 60_000) * 60_000 + 3_600_000;
    const at = (seconds: number) => new Date(t0 + seconds * 1000);
    let now = at(0);
    const deps = { db: testDb.db, logger, now: () => now, sms: sender() };
    expect(await drainNotifications(deps)).toEqual({ sent: 1, failed: 2, held: 0 });
    const [blacklisted, flaky, ok] = await rows();
    expect(ok).toMatchObject({ status: 'sent', provider_message_id: expect.stringMatching(/^ATXid_/) as unknown });
    expect(blacklisted).toMatchObject({ status: 'failed', attempts: 1, last_error: "Africa's Talking: UserInBlacklist (statusCode 406)" });
    expect(flaky).toMatchObject({ status: 'pending', attempts: 1, last_error: "Africa's Talking: InternalServerError (statusCode 500)" });
    expect(new Date(flaky!.next_attempt_at)).toEqual(at(60));

    // Not due before its back-off; retried after it, and the second failure waits twice as long.
    now = at(59);
    expect(await drainNotifications(deps)).toEqual({ sent: 0, failed: 0, held: 0 });
    now = at(60);
    expect(await drainNotifications(deps)).toEqual({ sent: 0, failed: 1, held: 0 });
    expect(new Date((await rows())[1]!.next_attempt_at)).toEqual(at(180));

    // The provider recovers: sent on the next due attempt.
    answers.delete('+254711100500');
    now = at(180);
    expect(await drainNotifications(deps)).toEqual({ sent: 1, failed: 0, held: 0 });
    expect((await rows())[1]).toMatchObject({ status: 'sent', attempts: 3 });
  });
});
