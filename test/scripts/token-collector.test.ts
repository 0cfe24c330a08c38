// `npm run token -- collector` mints the collector's machine credential: the collector role, a year long,
// signed with the key in DATA_DIR.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('npm run token -- collector', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'quantify-token-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints a year-long token carrying only the collector role', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/token.ts', 'collector'], { env: { ...process.env, DATA_DIR: dataDir } });

    const claims = decodeJwt(stdout.trim());
    expect(claims['cognito:groups']).toEqual(['collector']);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(365 * 86_400);
  });
});
