// Where the portal's platform is: read once at start from /config.json, which the platform serves (locally
// the HTTP server, with the local values; in the cloud CloudFront from S3, written by the stack), so one
// build runs anywhere and nothing about a deployment is baked into the bundle.

export interface LiveConfig {
  /** The live WebSocket: absolute (wss://…/event/realtime) or a path on this origin. */
  url: string;
  /** The host named in the auth header (AppSync Events' HTTP domain); this origin's host when absent. */
  host?: string;
}
export interface CognitoConfig {
  /** The hosted UI's base URL, https://<prefix>.auth.<region>.amazoncognito.com */
  domain: string;
  clientId: string;
  scopes: string[];
}
export type PortalConfig =
  | { mode: 'local'; apiBase: string; live: LiveConfig }
  | { mode: 'cloud'; apiBase: string; live: LiveConfig; cognito: CognitoConfig };

const LOCAL: PortalConfig = { mode: 'local', apiBase: '', live: { url: '/event/realtime' } };
let current: PortalConfig = LOCAL;

const isString = (v: unknown): v is string => typeof v === 'string';

/** Checks what /config.json said; a config that is not one is an error shown on the page. */
export function parsePortalConfig(raw: unknown): PortalConfig | string {
  if (typeof raw !== 'object' || raw === null) return 'config.json is not an object';
  const c = raw as Record<string, unknown>;
  const live = c.live as Record<string, unknown> | undefined;
  if (!isString(c.apiBase) || !live || !isString(live.url)) return 'config.json needs apiBase and live.url';
  const liveConfig: LiveConfig = { url: live.url, ...(isString(live.host) ? { host: live.host } : {}) };
  if (c.mode === 'local') return { mode: 'local', apiBase: c.apiBase, live: liveConfig };
  if (c.mode !== 'cloud') return `config.json has an unknown mode: ${String(c.mode)}`;
  const cognito = c.cognito as Record<string, unknown> | undefined;
  if (!cognito || !isString(cognito.domain) || !isString(cognito.clientId)) return 'config.json (cloud) needs cognito.domain and cognito.clientId';
  const scopes = Array.isArray(cognito.scopes) ? cognito.scopes.filter(isString) : ['openid'];
  return { mode: 'cloud', apiBase: c.apiBase, live: liveConfig, cognito: { domain: cognito.domain.replace(/\/+$/, ''), clientId: cognito.clientId, scopes } };
}

/** Loads /config.json (once, before the first render). */
export async function loadPortalConfig(): Promise<void> {
  const response = await fetch('/config.json', { cache: 'no-store', headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`The portal's /config.json answered HTTP ${response.status}`);
  const parsed = parsePortalConfig(await response.json());
  if (typeof parsed === 'string') throw new Error(parsed);
  current = parsed;
}

export const portalConfig = (): PortalConfig => current;
