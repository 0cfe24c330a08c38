// The portal in cloud mode, in a real browser (Playwright, Debian's Chromium), without AWS: a test host
// plays CloudFront (the built portal, a cloud /config.json, /api/* forwarded to the platform with the
// prefix stripped) and Cognito's hosted UI (/oauth2/authorize, /oauth2/token checking PKCE's S256
// challenge against the verifier, /oauth2/revoke, /logout). The live endpoint is the platform's, which
// speaks the AppSync Events protocol, named by absolute URL and host as an AppSync API is in the cloud.
// The ID tokens the fake Cognito hands out are ones the platform signed, so the API and the live channel
// accept them as they accept Cognito's in the cloud. Real PostgreSQL and Mosquitto with DATABASE_URL / MQTT_URL.
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { browserAvailable, launchBrowser } from '../support/browser.ts';


const dist = path.resolve(import.meta.dirname, '../../web/dist');
const clientId = 'portal-test-client';
const base64Url = (bytes: Buffer) => bytes.toString('base64url');

interface Authorization {
  challenge: string;
  redirectUri: string;
  code: string;
}
let platform: TestPlatform;
let browser: Browser;
let host: http.Server;
let hostUrl: string;
/** What the fake Cognito was asked, in order. */
let calls: { path: string; form?: Record<string, string> }[];
let authorizations: Authorization[];
/** Seconds the next ID tokens live (a short life makes the portal refresh soon). */
let tokenTtl: number;

async function body(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function fakeCognito(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  const json = (status: number, value: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  };
  const cognitoPath = url.pathname.slice('/cognito'.length);
  if (cognitoPath === '/oauth2/authorize') {
    const q = url.searchParams;
    calls.push({ path: cognitoPath, form: Object.fromEntries(q) });
    if (q.get('client_id') !== clientId || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
      return void res.writeHead(400).end('bad authorize request');
    }
    const code = randomUUID();
    authorizations.push({ challenge: q.get('code_challenge') ?? '', redirectUri: q.get('redirect_uri') ?? '', code });
    const back = new URL(q.get('redirect_uri') ?? '');
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.get('state') ?? '');
    return void res.writeHead(302, { location: back.toString() }).end();
  }
  if (cognitoPath === '/oauth2/token' && req.method === 'POST') {
    const form = Object.fromEntries(new URLSearchParams((await body(req)).toString('utf8')));
    calls.push({ path: cognitoPath, form });
    if (form.client_id !== clientId) return json(400, { error: 'invalid_client' });
    if (form.grant_type === 'refresh_token') {
      if (form.refresh_token !== 'refresh-1') return json(400, { error: 'invalid_grant' });
      return json(200, { id_token: await platform.auth.sign('operator', 'cloud-operator', tokenTtl), access_token: 'a', expires_in: tokenTtl, token_type: 'Bearer' });
    }
    const granted = authorizations.find((a) => a.code === form.code);
    const verified = granted && form.code_verifier && base64Url(createHash('sha256').update(form.code_verifier).digest()) === granted.challenge;
    if (!granted || !verified || form.redirect_uri !== granted.redirectUri) return json(400, { error: 'invalid_grant' });
    authorizations = authorizations.filter((a) => a !== granted);
    return json(200, { id_token: await platform.auth.sign('operator', 'cloud-operator', tokenTtl), access_token: 'a', refresh_token: 'refresh-1', expires_in: tokenTtl, token_type: 'Bearer' });
  }
  if (cognitoPath === '/oauth2/revoke' && req.method === 'POST') {
    calls.push({ path: cognitoPath, form: Object.fromEntries(new URLSearchParams((await body(req)).toString('utf8'))) });
    return void res.writeHead(200).end();
  }
  if (cognitoPath === '/logout') {
    calls.push({ path: cognitoPath, form: Object.fromEntries(url.searchParams) });
    return void res.writeHead(302, { location: url.searchParams.get('logout_uri') ?? '/' }).end();
  }
  res.writeHead(404).end();
}

/** CloudFront's /api/* behaviour: the prefix stripped, the rest (method, auth, body) forwarded. */
async function forwardToApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  const target = new URL(`${url.pathname.slice('/api'.length) || '/'}${url.search}`, platform.httpUrl);
  const payload = req.method === 'GET' || req.method === 'HEAD' ? undefined : await body(req);
  const headers: Record<string, string> = {};
  for (const name of ['authorization', 'content-type', 'accept', 'idempotency-key']) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const answer = await fetch(target, { method: req.method ?? 'GET', headers, ...(payload ? { body: payload } : {}) });
  res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/octet-stream' }).end(Buffer.from(await answer.arrayBuffer()));
}

beforeAll(async () => {
  if (!browserAvailable) return;
  platform = await startTestPlatform({ SCHEDULER_ENABLED: 'false' });
  const live = new URL(platform.httpUrl);
  host = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const served = async () => {
      if (url.pathname.startsWith('/cognito/')) return fakeCognito(req, res, url);
      if (url.pathname.startsWith('/api/')) return forwardToApi(req, res, url);
      if (url.pathname === '/config.json') {
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            mode: 'cloud',
            apiBase: '/api',
            live: { url: `ws://${live.host}/event/realtime`, host: live.host },
            cognito: { domain: `${hostUrl}/cognito`, clientId, scopes: ['openid', 'email', 'profile'] },
          }),
        );
      }
      // The SPA fallback: anything that is not a file is the page.
      const file = /\.[A-Za-z0-9]+$/.test(url.pathname) ? url.pathname : '/index.html';
      const content = await readFile(path.join(dist, path.normalize(file))).catch(() => undefined);
      if (!content) return void res.writeHead(404).end();
      const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'text/html';
      res.writeHead(200, { 'content-type': type }).end(content);
    };
    served().catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  hostUrl = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (host ? host.close(() => resolve()) : resolve()));
  await platform?.dispose();
});
beforeEach(() => {
  calls = [];
  authorizations = [];
  tokenTtl = 3600;
});

/** What the page keeps in localStorage under a key (the test is compiled without the DOM's types). */
const stored = (page: Page, key: string) => page.evaluate<string | null>(`localStorage.getItem(${JSON.stringify(key)})`);

async function openPortal(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${hostUrl}/`);
  return page;
}

describe.skipIf(!browserAvailable)('the portal signed in through the hosted UI (cloud mode)', () => {
  it('signs in with the code flow and PKCE, calls the API under /api, goes live, and signs out at the hosted UI', async () => {
    const page = await openPortal();
    expect(await page.getByLabel('Token').count()).toBe(0);

    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-tile="meters"]').waitFor();
    await page.locator('[data-live="live"]').waitFor();

    // One authorize (S256 challenge) and one code exchange whose verifier matched it, back to the page itself.
    expect(calls.map((c) => [c.path, c.form?.grant_type])).toEqual([
      ['/oauth2/authorize', undefined],
      ['/oauth2/token', 'authorization_code'],
    ]);
    expect(calls[0]?.form).toMatchObject({ redirect_uri: `${hostUrl}/`, scope: 'openid email profile', code_challenge_method: 'S256' });
    expect(calls[0]?.form?.state).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(calls[1]?.form?.code_verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(page.url()).toBe(`${hostUrl}/`);
    expect(await page.locator('.who').getAttribute('data-roles')).toBe('operator');

    // Signing out clears the page's session at once (its Sign in button shows before anything else), revokes
    // the refresh token, then leaves for the hosted UI's /logout, which sends the browser back to the page:
    // the test waits for that return, not for the button, or it races the revoke and the redirect.
    const returned = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await returned;
    await page.waitForLoadState('load');
    expect(page.url()).toBe(`${hostUrl}/`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(calls.slice(2)).toEqual([
      { path: '/oauth2/revoke', form: { token: 'refresh-1', client_id: clientId } },
      { path: '/logout', form: { client_id: clientId, logout_uri: `${hostUrl}/` } },
    ]);
    expect([await stored(page, 'quantify.token'), await stored(page, 'quantify.refresh')]).toEqual([null, null]);
    await page.context().close();
  }, 60_000);

  it('renews the ID token with the refresh token before it expires', async () => {
    // A token with a few seconds left beyond the two-minute margin the portal renews within.
    tokenTtl = 124;
    const page = await openPortal();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-tile="meters"]').waitFor();
    const first = await stored(page, 'quantify.token');
    expect(first).toMatch(/^ey/);

    await expect.poll(() => calls.filter((c) => c.form?.grant_type === 'refresh_token').length, { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => stored(page, 'quantify.token'), { timeout: 10_000 }).not.toBe(first);
    expect(calls.find((c) => c.form?.grant_type === 'refresh_token')?.form).toEqual({ client_id: clientId, grant_type: 'refresh_token', refresh_token: 'refresh-1' });
    await page.context().close();
  }, 60_000);

  it('refuses a code that comes back with a state it did not send, and exchanges nothing', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${hostUrl}/?code=stolen&state=forged`);

    expect(await page.getByRole('alert').textContent()).toContain('does not match a sign-in started here');
    expect(calls.filter((c) => c.path === '/oauth2/token')).toEqual([]);
    expect(page.url()).toBe(`${hostUrl}/`);
    await page.context().close();
  }, 60_000);
});
