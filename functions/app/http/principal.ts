// Who is calling. In the cloud API Gateway's JWT authorizer has verified the token and hands over its
// claims; locally the runtime's HTTP server verifies it the same way and hands over the same claims.
// Roles are Cognito groups (`cognito:groups`), which HTTP APIs flatten to a string like "[admin operator]".
import * as z from 'zod';
import { roles, type Principal, type Role } from '#domain/roles';

const claimsSchema = z.object({
  sub: z.string().min(1),
  'cognito:groups': z.union([z.string(), z.array(z.string())]).optional(),
  username: z.string().optional(),
});

export function parseGroups(value: string | string[] | undefined): Role[] {
  const list = Array.isArray(value) ? value : (value ?? '').replace(/^\[|\]$/g, '').split(/[\s,]+/);
  return list.filter((g): g is Role => (roles as readonly string[]).includes(g));
}

export function principalFromClaims(claims: unknown): Principal | undefined {
  const parsed = claimsSchema.safeParse(claims);
  if (!parsed.success) return undefined;
  return { subject: parsed.data.username ?? parsed.data.sub, roles: parseGroups(parsed.data['cognito:groups']) };
}
