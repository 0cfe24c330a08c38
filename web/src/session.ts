// Who is signed in: the bearer token (kept in this browser's localStorage) and what its claims say.
// The claims only shape the page (a viewer sees no switching buttons); the API decides what is allowed.
// Locally the token is one the platform signed (pasted in); in the cloud it is Cognito's ID token from the
// hosted UI (cognito.ts), kept with its refresh token and renewed before it expires.
import { completeSignIn, refreshTokens, signOutUrl, type Tokens } from './cognito.ts';
import { portalConfig } from './config.ts';

export type Role = 'admin' | 'operator' | 'viewer';
const roles: readonly Role[] = ['admin', 'operator', 'viewer'];
const KEY = 'quantify.token';
const REFRESH_KEY = 'quantify.refresh';
/** Renew this long before the ID token expires. */
const REFRESH_AHEAD_MS = 2 * 60_000;

export interface Session {
  token: string;
  subject: string;
  roles: Role[];
  expiresAt: Date | undefined;
}

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The session a token gives, or an error message saying why it is not a token. */
export function sessionFromToken(raw: string): Session | string {
  const token = raw.trim().replace(/^Bearer\s+/i, '');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return 'That is not a token: expected three dot-separated parts (a JWT).';
  let claims: unknown;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    return 'That is not a token: its claims are not readable JSON.';
  }
  if (typeof claims !== 'object' || claims === null) return 'That is not a token: its claims are not an object.';
  const c = claims as Record<string, unknown>;
  const groups = c['cognito:groups'];
  const list = Array.isArray(groups) ? groups : typeof groups === 'string' ? groups.replace(/^\[|\]$/g, '').split(/[\s,]+/) : [];
  const held = roles.filter((r) => list.includes(r));
  const subject = typeof c.username === 'string' ? c.username : typeof c.sub === 'string' ? c.sub : 'unknown';
  const expiresAt = typeof c.exp === 'number' ? new Date(c.exp * 1000) : undefined;
  if (expiresAt && expiresAt.getTime() <= Date.now()) return 'That token has expired: mint a new one (npm run token -- admin).';
  return { token, subject, roles: held, expiresAt };
}

export function loadSession(): Session | undefined {
  const stored = localStorage.getItem(KEY);
  if (!stored) return undefined;
  const session = sessionFromToken(stored);
  if (typeof session === 'string') {
    localStorage.removeItem(KEY);
    return undefined;
  }
  return session;
}

export function saveSession(session: Session): void {
  localStorage.setItem(KEY, session.token);
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
  localStorage.removeItem(REFRESH_KEY);
}

function keepTokens(tokens: Tokens): Session {
  const session = sessionFromToken(tokens.idToken);
  if (typeof session === 'string') throw new Error(`Cognito's token is not usable: ${session}`);
  saveSession(session);
  if (tokens.refreshToken) localStorage.setItem(REFRESH_KEY, tokens.refreshToken);
  return session;
}

/** A new session from the stored refresh token (cloud), or undefined when there is none or it is refused. */
async function refreshed(): Promise<Session | undefined> {
  const config = portalConfig();
  const refreshToken = localStorage.getItem(REFRESH_KEY);
  if (config.mode !== 'cloud' || !refreshToken) return undefined;
  try {
    return keepTokens(await refreshTokens(config.cognito, refreshToken));
  } catch {
    clearSession();
    return undefined;
  }
}

/**
 * The session at page load: in the cloud, first a sign-in the hosted UI just sent back (the error, as a
 * string, when it failed), then the stored token, renewed when it expired while the page was closed.
 */
export async function startSession(): Promise<Session | string | undefined> {
  const config = portalConfig();
  if (config.mode === 'cloud') {
    try {
      const tokens = await completeSignIn(config.cognito);
      if (tokens) return keepTokens(tokens);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
  return loadSession() ?? (await refreshed());
}

/** Renews a cloud session shortly before it expires; returns the cancel function (for an effect). */
export function keepFresh(session: Session | undefined, onRenewed: (s: Session | undefined) => void): () => void {
  if (!session?.expiresAt || portalConfig().mode !== 'cloud' || !localStorage.getItem(REFRESH_KEY)) return () => {};
  const delay = Math.max(0, session.expiresAt.getTime() - Date.now() - REFRESH_AHEAD_MS);
  const timer = window.setTimeout(() => void refreshed().then(onRenewed), delay);
  return () => window.clearTimeout(timer);
}

/** Signs out here and, in the cloud, at the hosted UI too (its refresh token revoked first). */
export function signOut(): void {
  const config = portalConfig();
  const refreshToken = localStorage.getItem(REFRESH_KEY);
  clearSession();
  if (config.mode !== 'cloud') return;
  const leave = () => location.assign(signOutUrl(config.cognito));
  if (!refreshToken) return leave();
  void fetch(`${config.cognito.domain}/oauth2/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: refreshToken, client_id: config.cognito.clientId }).toString(),
  })
    .catch(() => undefined)
    .finally(leave);
}

/** Switching supply (and the quarantine's actions) takes an operator or an admin, as on the API. */
export const canOperate = (session: Session): boolean => session.roles.some((r) => r === 'admin' || r === 'operator');
