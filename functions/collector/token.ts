// The collector's credential. Locally a fixed bearer token (COLLECTOR_TOKEN, from `npm run token --
// collector`); in the cloud OAuth2 client credentials against the Cognito token endpoint
// (COLLECTOR_TOKEN_URL, COLLECTOR_CLIENT_ID, COLLECTOR_CLIENT_SECRET, COLLECTOR_TOKEN_SCOPE): the access
// token is fetched when first needed, kept, fetched again shortly before it expires (a tenth of its
// lifetime, at most 5 minutes, early) and at once when the platform answers 401 (revoked, or a clock
// that disagrees). One fetch at a time: concurrent callers share it.
import * as z from 'zod';

export interface TokenSource {
  /** The bearer token to send (undefined: none configured). */
  get(): Promise<string | undefined>;
  /** The platform refused `token` (401): the next get() fetches a new one. False when nothing can change. */
  refused(token: string | undefined): boolean;
}

export const staticToken = (token: string | undefined): TokenSource => ({ get: async () => token, refused: () => false });

export interface ClientCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
}

export class TokenEndpointError extends Error {
  override name = 'TokenEndpointError';
}

const tokenAnswer = z.object({ access_token: z.string().min(1), expires_in: z.coerce.number().positive(), token_type: z.string().optional() });

const MAX_EARLY_MS = 5 * 60_000;

export function clientCredentialsToken(c: ClientCredentials, timeoutMs: number, now: () => number = Date.now): TokenSource & { fetches: () => number } {
  let current: { token: string; refreshAt: number } | undefined;
  let inFlight: Promise<string> | undefined;
  let fetches = 0;
  const fetchToken = async (): Promise<string> => {
    fetches++;
    let response: Response;
    try {
      response = await fetch(c.tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: c.scope }).toString(),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new TokenEndpointError(`token endpoint ${c.tokenUrl} unreachable: ${(error as Error).message}`);
    }
    const text = await response.text();
    if (!response.ok) throw new TokenEndpointError(`token endpoint ${c.tokenUrl}: HTTP ${response.status} ${text.slice(0, 200)}; check COLLECTOR_CLIENT_ID/COLLECTOR_CLIENT_SECRET`);
    let parsed;
    try {
      parsed = tokenAnswer.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) throw new TokenEndpointError(`token endpoint ${c.tokenUrl}: no access_token/expires_in in its answer`);
    const lifetimeMs = parsed.data.expires_in * 1000;
    current = { token: parsed.data.access_token, refreshAt: now() + lifetimeMs - Math.min(MAX_EARLY_MS, lifetimeMs / 10) };
    return current.token;
  };
  return {
    get: async () => {
      if (current && now() < current.refreshAt) return current.token;
      inFlight ??= fetchToken().finally(() => (inFlight = undefined));
      return inFlight;
    },
    refused: (token) => {
      if (current && current.token === token) current = undefined;
      return true;
    },
    fetches: () => fetches,
  };
}
