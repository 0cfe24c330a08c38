// Cloud sign-in: Cognito's hosted UI with the OAuth 2.0 authorization code flow and PKCE (RFC 7636), written
// with WebCrypto (no library). The verifier and state live in sessionStorage only for the round trip; the
// tokens the code buys are kept by session.ts. The app client has no secret: PKCE is what binds the code
// to this browser.
import type { CognitoConfig } from './config.ts';

const PENDING = 'quantify.pkce';

export interface Tokens {
  idToken: string;
  /** Absent when a refresh answered (Cognito keeps the refresh token the same). */
  refreshToken?: string;
}

const base64Url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const randomText = (size: number) => base64Url(crypto.getRandomValues(new Uint8Array(size)));

/** S256 code challenge of a verifier: base64url(SHA-256(verifier)). */
export async function codeChallenge(verifier: string): Promise<string> {
  return base64Url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

/** Where Cognito sends the browser back: this page's origin and path, without query or hash. */
export const redirectUri = (): string => `${location.origin}${location.pathname}`;

/** Leaves for the hosted UI; comes back to redirectUri() with ?code=…&state=…. */
export async function beginSignIn(cognito: CognitoConfig): Promise<void> {
  const verifier = randomText(48);
  const state = randomText(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: cognito.clientId,
    redirect_uri: redirectUri(),
    scope: cognito.scopes.join(' '),
    state,
    code_challenge_method: 'S256',
    code_challenge: await codeChallenge(verifier),
  });
  location.assign(`${cognito.domain}/oauth2/authorize?${query.toString()}`);
}

async function tokenRequest(cognito: CognitoConfig, form: Record<string, string>): Promise<Tokens> {
  const response = await fetch(`${cognito.domain}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: cognito.clientId, ...form }).toString(),
  });
  const body = (await response.json().catch(() => ({}))) as { id_token?: unknown; refresh_token?: unknown; error?: unknown };
  if (!response.ok || typeof body.id_token !== 'string') {
    throw new Error(`Cognito refused the sign-in (${typeof body.error === 'string' ? body.error : `HTTP ${response.status}`})`);
  }
  return { idToken: body.id_token, ...(typeof body.refresh_token === 'string' ? { refreshToken: body.refresh_token } : {}) };
}

/**
 * Finishes a sign-in the hosted UI sent back (?code&state in the URL): checks the state, exchanges the code
 * with the verifier, and cleans the URL. Undefined when this page load is not such a return.
 */
export async function completeSignIn(cognito: CognitoConfig): Promise<Tokens | undefined> {
  const query = new URLSearchParams(location.search);
  const code = query.get('code');
  const error = query.get('error');
  if (!code && !error) return undefined;
  const pending = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const { verifier, state, hash } = (pending ? JSON.parse(pending) : {}) as { verifier?: string; state?: string; hash?: string };
  history.replaceState(null, '', `${location.pathname}${hash ?? ''}`);
  if (error) throw new Error(`The sign-in did not complete: ${query.get('error_description') ?? error}`);
  if (!verifier || !state || query.get('state') !== state) throw new Error('The sign-in answer does not match a sign-in started here: sign in again.');
  return tokenRequest(cognito, { grant_type: 'authorization_code', code: code ?? '', redirect_uri: redirectUri(), code_verifier: verifier });
}

/** A fresh ID token for a refresh token. */
export const refreshTokens = (cognito: CognitoConfig, refreshToken: string): Promise<Tokens> =>
  tokenRequest(cognito, { grant_type: 'refresh_token', refresh_token: refreshToken });

/** The hosted UI's sign-out, which ends its own session too and comes back here. */
export const signOutUrl = (cognito: CognitoConfig): string =>
  `${cognito.domain}/logout?${new URLSearchParams({ client_id: cognito.clientId, logout_uri: redirectUri() }).toString()}`;
