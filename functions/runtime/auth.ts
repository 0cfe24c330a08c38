// Local authentication: an HS256 signing key generated on first start (kept in DATA_DIR), tokens with
// the same claims Cognito puts in its ID tokens (sub, cognito:groups), verified by the local HTTP
// server the way API Gateway's JWT authorizer verifies Cognito's.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import * as z from 'zod';
import type { Role } from '#domain/roles';

const keyFile = z.object({ alg: z.literal('HS256'), secret: z.string().min(43) });

export interface LocalAuth {
  sign(role: Role, subject?: string, ttlSeconds?: number): Promise<string>;
  verify(token: string): Promise<JWTPayload>;
}

export async function loadOrCreateKey(dataDir: string): Promise<Uint8Array> {
  const file = path.join(dataDir, 'auth-key.json');
  try {
    const parsed = keyFile.parse(JSON.parse(await readFile(file, 'utf8')));
    return Buffer.from(parsed.secret, 'base64url');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the signing key in ${file}: ${(error as Error).message}`);
  }
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32);
  await writeFile(file, JSON.stringify({ alg: 'HS256', secret: secret.toString('base64url') }), { mode: 0o600 });
  return secret;
}

export function localAuth(key: Uint8Array, issuer: string, audience: string): LocalAuth {
  return {
    sign: (role, subject = `local-${role}`, ttlSeconds = 12 * 3600) =>
      new SignJWT({ 'cognito:groups': [role], username: subject, token_use: 'id' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(subject)
        .setIssuer(issuer)
        .setAudience(audience)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key),
    verify: async (token) => (await jwtVerify(token, key, { issuer, audience, algorithms: ['HS256'] })).payload,
  };
}
