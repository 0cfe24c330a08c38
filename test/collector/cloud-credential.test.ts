// The collector's cloud credential: OAuth2 client credentials against a token endpoint (a fake Cognito on
// loopback), the access token's scope mapped to the collector role by the API (through the handler the
// Lambda runs, behind a fake API Gateway JWT authorizer on loopback), the token kept and fetched again
// before it expires and after a 401, and the collector role refused by every route but POST /readings.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, createApiHandler } from '#app/api/index';
import { COLLECTOR_SCOPE } from '#domain/roles';
import { logger } from '#shared/logger';
import { collectorConfig } from '../../functions/collector/config.ts';
import { httpPost } from '../../functions/collector/sender.ts';
import { clientCredentialsToken, TokenEndpointError } from '../../functions/collector/token.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';
import { openTestDb, type TestDb } from '../support/db.ts';

const clientId = 'collector-client';
const clientSecret = randomBytes(16).toString('hex');

const body = (req: IncomingMessage) => new Promise<string>((resolve) => {
  let text = '';
  req.on('data', (c: Buffer) => (text += c.toString()));
  req.on('end', () => resolve(text));
});
const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/** A client-credentials access token's claims as API Gateway's JWT authorizer hands them over. */
const stored = (text: string) => (JSON.parse(text) as { stored: number }).stored;
const accessClaims = (scope: string) => ({ sub: clientId, client_id: clientId, token_use: 'access', scope });

describe('the collector\'s cloud credential', () => {
  let testDb: TestDb;
  let handler: ReturnType<typeof createApiHandler>;
  const call = async (input: EventInput, claims?: Record<string, unknown>) => {
    const event = apiEvent(claims ? { ...input, role: 'none' } : input);
    if (claims) Object.assign(event.requestContext, { authorizer: { jwt: { claims, scopes: [] } } });
    return parseResult(await handler(event, lambdaContext));
  };
  // The fake Cognito: tokens it issued (by value) with their expiry; revoked ones are forgotten.
  const issued = new Map<string, { scope: string }>();
  let tokenRequests: { authorization: string | undefined; form: URLSearchParams }[] = [];
  let expiresIn = 3600;
  let tokenServer: Server;
  let apiServer: Server;
  let tokenUrl: string;
  let apiUrl: string;
  let meterNo: string;

  beforeAll(async () => {
    testDb = await openTestDb();
    logger.setLogLevel('SILENT');
    handler = createApiHandler({ db: testDb.db, logger, now: () => new Date(), healthChecks: {}, ingest: async () => { throw new Error('not used'); }, commandQueue: { enqueue: async () => undefined } });
    tokenServer = createServer((req, res) => {
      void body(req).then((text) => {
        const form = new URLSearchParams(text);
        tokenRequests.push({ authorization: req.headers.authorization, form });
        const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
        res.setHeader('content-type', 'application/json');
        if (req.headers.authorization !== basic) return res.writeHead(400).end(JSON.stringify({ error: 'invalid_client' }));
        if (form.get('grant_type') !== 'client_credentials') return res.writeHead(400).end(JSON.stringify({ error: 'unsupported_grant_type' }));
        if (form.get('scope') !== COLLECTOR_SCOPE) return res.writeHead(400).end(JSON.stringify({ error: 'invalid_scope' }));
        const token = randomUUID();
        issued.set(token, { scope: COLLECTOR_SCOPE });
        res.writeHead(200).end(JSON.stringify({ access_token: token, expires_in: expiresIn, token_type: 'Bearer' }));
      });
    });
    // The fake API Gateway: the JWT authorizer (401 without a token it knows), then the API handler.
    apiServer = createServer((req, res) => {
      void body(req).then(async (text) => {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const known = token ? issued.get(token) : undefined;
        if (!known) return res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Unauthorized"}');
        const result = await call({ method: req.method ?? 'GET', path: req.url ?? '/', rawBody: text }, accessClaims(known.scope));
        res.writeHead(result.status, { 'content-type': 'application/json' }).end(result.text);
      });
    });
    tokenUrl = `${await listen(tokenServer)}/oauth2/token`;
    apiUrl = await listen(apiServer);
    meterNo = `CC${randomBytes(4).toString('hex')}`;
    expect((await call({ method: 'POST', path: '/meters', role: 'operator', body: { meterNo, meterType: 'electricity' } })).status).toBe(201);
  });
  afterAll(async () => {
    tokenServer.close();
    apiServer.close();
    await testDb.close();
  });

  const reading = (minute: number) => ({ meter_id: meterNo, energy: 100 + minute, power: 1000, timestamp: new Date(Date.UTC(2026, 0, 5, 10, minute)).toISOString() });

  it('fetches a token with the client credentials and the collector scope, and posts readings with it', async () => {
    tokenRequests = [];
    const tokens = clientCredentialsToken({ tokenUrl, clientId, clientSecret, scope: COLLECTOR_SCOPE }, 5_000);
    const post = httpPost(apiUrl, tokens, 5_000);

    const answers = [await post([reading(0)]), await post([reading(1), reading(2)])];

    expect(answers.map((a) => [a.status, stored(a.body)])).toEqual([[200, 1], [200, 2]]);
    expect(tokens.fetches()).toBe(1);
    expect(tokenRequests).toHaveLength(1);
    expect(Object.fromEntries(tokenRequests[0]!.form)).toEqual({ grant_type: 'client_credentials', scope: COLLECTOR_SCOPE });
    const list = await call({ method: 'GET', path: `/readings/${meterNo}`, role: 'viewer' });
    expect((list.body.items as unknown[]).length).toBe(3);
  });

  it('fetches a new token shortly before the old one expires, and keeps it until then', async () => {
    let clock = Date.UTC(2026, 0, 5, 12);
    expiresIn = 3600;
    const tokens = clientCredentialsToken({ tokenUrl, clientId, clientSecret, scope: COLLECTOR_SCOPE }, 5_000, () => clock);

    const first = await tokens.get();
    clock += (3600 - 301) * 1000; // 5 minutes and a second before expiry: still kept
    const kept = await tokens.get();
    clock += 2_000; // within the last 5 minutes: renewed
    const renewed = await tokens.get();

    expect(kept).toBe(first);
    expect(renewed).not.toBe(first);
    expect(tokens.fetches()).toBe(2);
  });

  it('fetches a new token when the platform answers 401 and posts again once', async () => {
    const tokens = clientCredentialsToken({ tokenUrl, clientId, clientSecret, scope: COLLECTOR_SCOPE }, 5_000);
    const post = httpPost(apiUrl, tokens, 5_000);
    await post([reading(10)]);
    issued.delete((await tokens.get())!); // revoked (or the pool's key rotated)

    const answer = await post([reading(11)]);

    expect([answer.status, stored(answer.body)]).toEqual([200, 1]);
    expect(tokens.fetches()).toBe(2);
  });

  it('fails with the token endpoint\'s answer when the client secret is wrong (the sender keeps the readings)', async () => {
    const tokens = clientCredentialsToken({ tokenUrl, clientId, clientSecret: 'wrong', scope: COLLECTOR_SCOPE }, 5_000);
    const post = httpPost(apiUrl, tokens, 5_000);

    await expect(post([reading(20)])).rejects.toThrow(TokenEndpointError);
    await expect(post([reading(20)])).rejects.toThrow(/HTTP 400 .*invalid_client/);
  });

  it('takes the client credentials from the environment, all three or none, not beside COLLECTOR_TOKEN', () => {
    const base = { MODBUS_HOST: 'gw', METER_IDS: '1' };
    const config = collectorConfig({ ...base, COLLECTOR_TOKEN_URL: tokenUrl, COLLECTOR_CLIENT_ID: clientId, COLLECTOR_CLIENT_SECRET: 's' });

    expect(config.clientCredentials).toEqual({ tokenUrl, clientId, clientSecret: 's', scope: COLLECTOR_SCOPE });
    expect(() => collectorConfig({ ...base, COLLECTOR_TOKEN_URL: tokenUrl, COLLECTOR_CLIENT_ID: clientId })).toThrow(/all three/);
    expect(() => collectorConfig({ ...base, COLLECTOR_TOKEN: 't', COLLECTOR_TOKEN_URL: tokenUrl, COLLECTOR_CLIENT_ID: clientId, COLLECTOR_CLIENT_SECRET: 's' })).toThrow(/not both/);
  });

  it('refuses the collector\'s token on every route of the route table but POST /readings', async () => {
    const claims = accessClaims(COLLECTOR_SCOPE);
    const answers = await Promise.all(apiRoutes().filter((r) => r.access !== 'public').map(async (r) => {
      const path = r.path.replace(/\{[^}]+\}/g, randomUUID());
      const answer = await call({ method: r.method, path, body: {} }, claims);
      return [`${r.method} ${r.path}`, answer.status] as const;
    }));

    const allowed = answers.filter(([, status]) => status !== 403).map(([route]) => route);
    expect(allowed).toEqual(['POST /readings']);
    expect(answers.length).toBeGreaterThan(40);
  });

  it('gives an access token without the collector scope no role at all', async () => {
    const answer = await call({ method: 'POST', path: '/readings', body: reading(30) }, accessClaims('quantify/other openid'));

    expect(answer.status).toBe(403);
  });
});
