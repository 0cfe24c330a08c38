// The Daraja client against the Daraja simulator (real HTTP on loopback): OAuth once per token lifetime,
// credentials refused, STK Push then STK Query (pending, then the result), the callback it posts, C2B
// RegisterURL and simulate, Pull Transactions across pages.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DarajaClient } from '#adapters/daraja-client';
import { DarajaRequestError } from '#app/payments/errors';
import { DarajaSimulator } from '#runtime/daraja-sim/index';
import { logger } from '#shared/logger';

let sim: DarajaSimulator;
let receiver: http.Server;
let receiverUrl: string;
const received: { path: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  sim = new DarajaSimulator({ stkDelayMs: 0, logger });
  await sim.start();
  // Stands in for our callback endpoints: records what Daraja posts, accepts validations.
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ResultCode: '0', ResultDesc: 'Accepted' }));
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await sim?.stop();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
});

const client = (overrides: Partial<ConstructorParameters<typeof DarajaClient>[0]> = {}) =>
  new DarajaClient({ baseUrl: sim.url, ...sim.credentials, stkCallbackUrl: `${receiverUrl}/stk`, ...overrides });

describe('Daraja client', () => {
  it('fetches one OAuth token and reuses it', async () => {
    const c = client();
    const before = sim.counters.oauthTokens;
    const [a, b] = await Promise.all([c.accessToken(), c.accessToken()]);
    expect(a).toBe(b);
    expect(await c.accessToken()).toBe(a);
    expect(sim.counters.oauthTokens - before).toBe(1);
  });

  it('reports refused credentials as a request error', async () => {
    await expect(client({ consumerSecret: 'wrong' }).accessToken()).rejects.toThrow(DarajaRequestError);
  });

  it('refuses a callback URL with a word Safaricom rejects', async () => {
    expect(() => client({ stkCallbackUrl: 'https://x.example/mpesa/cb' })).toThrow(DarajaRequestError);
  });

  it('pushes, answers "pending" to a query until the customer answers, then the result, and posts the callback', async () => {
    const c = client();
    sim.setStkOutcome('254712345678', 'cancelled');
    const accepted = await c.stkPush({ phone: '254712345678', amount: 10, accountReference: 'ACC1', description: 'Prepaid ACC1' });
    expect(accepted.responseCode).toBe('0');
    await sim.settled();
    expect(await c.stkQuery(accepted.checkoutRequestId)).toEqual({ state: 'done', resultCode: 1032, resultDesc: 'Request cancelled by user' });
    const callback = received.find((r) => r.path === '/stk' && JSON.stringify(r.body).includes(accepted.checkoutRequestId));
    expect(callback?.body).toMatchObject({ Body: { stkCallback: { ResultCode: 1032 } } });
  });

  it('answers pending while the simulated customer has not answered', async () => {
    const slow = new DarajaSimulator({ stkDelayMs: 600_000, logger });
    await slow.start();
    try {
      const c = new DarajaClient({ baseUrl: slow.url, ...slow.credentials, stkCallbackUrl: `${receiverUrl}/stk` });
      const accepted = await c.stkPush({ phone: '254712345678', amount: 10, accountReference: 'ACC1', description: 'x' });
      expect(await c.stkQuery(accepted.checkoutRequestId)).toMatchObject({ state: 'pending' });
    } finally {
      await slow.stop();
    }
  });

  it('registers C2B URLs, and simulated payments appear in Pull Transactions across pages', async () => {
    const c = client();
    await c.registerC2bUrls({ confirmationUrl: `${receiverUrl}/confirm`, validationUrl: `${receiverUrl}/validate`, responseType: 'Completed' });
    const from = new Date(Date.now() - 60_000);
    for (let i = 0; i < 130; i++) await sim.simulateC2b({ amount: 5, msisdn: '254712345678', billRef: `REF${i}` });
    const rows = await c.pullTransactions(from, new Date(Date.now() + 60_000));
    expect(rows.filter((r) => r.billreference.startsWith('REF'))).toHaveLength(130);
    expect(received.filter((r) => r.path === '/validate').length).toBeGreaterThanOrEqual(130);
    expect(received.filter((r) => r.path === '/confirm').length).toBeGreaterThanOrEqual(130);
  });
});
