// `npm run token -- <role> [subject]`: print a bearer token for the local API, signed with the key
// the local runtime generated in DATA_DIR (admin, operator, viewer or collector). People's tokens last
// 12 hours; a collector's (a machine on site that may only post readings) a year: rotating
// DATA_DIR/auth-key.json revokes every token.
import 'dotenv/config';
import path from 'node:path';
import { roles, type Role } from '#domain/roles';
import { localAuth, loadOrCreateKey } from '#runtime/auth';
import { localConfigSchema, parseConfig } from '#shared/config';

const [role = 'operator', subject] = process.argv.slice(2);
if (!(roles as readonly string[]).includes(role)) {
  console.error(`usage: npm run token -- <${roles.join('|')}> [subject]`);
  process.exit(2);
}
const config = parseConfig(localConfigSchema, process.env);
const auth = localAuth(await loadOrCreateKey(path.resolve(config.DATA_DIR)), config.AUTH_ISSUER, config.AUTH_AUDIENCE);
const COLLECTOR_TTL_S = 365 * 86_400;
console.log(await auth.sign(role as Role, subject, role === 'collector' ? COLLECTOR_TTL_S : undefined));
