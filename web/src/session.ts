// Who is signed in: the bearer token (kept in this browser's localStorage) and what its claims say.
// The claims only shape the page (a viewer sees no switching buttons); the API decides what is allowed.

export type Role = 'admin' | 'operator' | 'viewer';
const roles: readonly Role[] = ['admin', 'operator', 'viewer'];
const KEY = 'quantify.token';

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
}

/** Switching supply (and the quarantine's actions) takes an operator or an admin, as on the API. */
export const canOperate = (session: Session): boolean => session.roles.some((r) => r === 'admin' || r === 'operator');
