// Who is calling. In the cloud API Gateway's JWT authorizer has verified the token and hands over its
// claims; locally the runtime's HTTP server verifies it the same way and hands over the same claims.
// Roles are Cognito groups (`cognito:groups`), which HTTP APIs flatten to a string like "[admin operator]".
// A machine's access token from the client-credentials grant has no groups: its scope says what it is
// (COLLECTOR_SCOPE: the collector role), its client id who.
import * as z from 'zod';
import { COLLECTOR_SCOPE, roles, type Principal, type Role } from '#domain/roles';

const claimsSchema = z.object({
  sub: z.string().min(1),
  'cognito:groups': z.union([z.string(), z.array(z.string())]).optional(),
  username: z.string().optional(),
  token_use: z.string().optional(),
  /** Space-separated OAuth2 scopes of an access token. */
  scope: z.string().optional(),
  client_id: z.string().optional(),
});

export function parseGroups(value: string | string[] | undefined): Role[] {
  const list = Array.isArray(value) ? value : (value ?? '').replace(/^\[|\]$/g, '').split(/[\s,]+/);
  return list.filter((g): g is Role => (roles as readonly string[]).includes(g));
}

export function principalFromClaims(claims: unknown): Principal | undefined {
  const parsed = claimsSchema.safeParse(claims);
  if (!parsed.success) return undefined;
  const c = parsed.data;
  if (c.token_use === 'access' && c['cognito:groups'] === undefined && c.scope !== undefined) {
    // A client-credentials token: the collector's scope makes it the collector, and only that.
    const scopes = c.scope.split(/\s+/);
    return { subject: `client:${c.client_id ?? c.sub}`, roles: scopes.includes(COLLECTOR_SCOPE) ? ['collector'] : [] };
  }
  return { subject: c.username ?? c.sub, roles: parseGroups(c['cognito:groups']) };
}
