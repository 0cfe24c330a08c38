// The Mosquitto password file and ACL exported from the same rule set (npm run mqtt:export-mosquitto), in
// force on this machine's Mosquitto on a port of its own: the same forged logins, publishes and
// subscriptions the embedded broker refuses are refused there too.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { mosquittoFiles } from '#app/device-access/mosquitto-export';
import { serviceUsernames } from '#domain/device-access';
import { loadOrCreateServiceSecrets } from '#runtime/mqtt-logins';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { apiClient } from '../support/http.ts';
import { meterWithCredentials } from '../support/meters.ts';
import { startMosquitto, type Broker } from '../support/mosquitto.ts';
import { brokerAccessCases, endClients, type AccessRig } from '../support/broker-access.ts';

let platform: TestPlatform;
let mosquitto: Broker;
let dir: string;
let rig: AccessRig;

beforeAll(async () => {
  platform = await startTestPlatform();
  const token = await platform.token('operator');
  const api = apiClient(platform.httpUrl, () => token);
  const meterA = await meterWithCredentials(api);
  const meterB = await meterWithCredentials(api);
  // A credential revoked before the export must not be in it.
  const revoked = await meterWithCredentials(api);
  await api('DELETE', `/devices/${revoked.deviceId}/mqtt-credentials`);

  const secrets = await loadOrCreateServiceSecrets(platform.dataDir);
  const files = await mosquittoFiles(platform.db.db, secrets);
  dir = await mkdtemp(path.join(tmpdir(), 'quantify-mosquitto-acl-'));
  const passwordFile = path.join(dir, 'mosquitto.passwd');
  const aclFile = path.join(dir, 'mosquitto.acl');
  await writeFile(passwordFile, files.passwordFile, { mode: 0o600 });
  await writeFile(aclFile, files.aclFile);
  if (files.passwordFile.includes(`${revoked.meterNo}:`)) throw new Error('a revoked credential was exported');
  mosquitto = await startMosquitto(path.join(dir, 'broker'), { access: { passwordFile, aclFile } });
  const login = (s: keyof typeof serviceUsernames) => ({ username: serviceUsernames[s], password: secrets[s] });
  rig = { url: mosquitto.url, platform: login('platform'), chirpstack: login('chirpstack'), operator: login('operator'), meterA, meterB, embedded: false };
}, 60_000);
afterEach(endClients);
afterAll(async () => {
  await mosquitto?.stop();
  await platform?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Mosquitto with the exported password file and ACL', () => {
  brokerAccessCases(() => rig);
});
