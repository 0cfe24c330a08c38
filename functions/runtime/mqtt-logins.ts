// The service identities' MQTT secrets for the embedded broker (the platform itself, ChirpStack's
// integration, operator tools): generated on first start into DATA_DIR/mqtt-logins.json (mode 0600), next
// to the API's signing key, and read by `npm run mqtt:login` and the Mosquitto export. ChirpStack's may come
// from MQTT_CHIRPSTACK_PASSWORD instead, so it can be set in ChirpStack's config first.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { serviceIdentities, serviceUsernames, type ServiceIdentity } from '#domain/device-access';
import { newMqttSecret } from '#app/device-access/mqtt-password';

export type ServiceSecrets = Record<ServiceIdentity, string>;

export interface MqttLogin {
  username: string;
  password: string;
}

const loginsFile = z.object({ platform: z.string().min(16), chirpstack: z.string().min(16), operator: z.string().min(16) });

export const mqttLoginsPath = (dataDir: string): string => path.join(dataDir, 'mqtt-logins.json');

export async function loadOrCreateServiceSecrets(dataDir: string, overrides: { chirpstack?: string | undefined } = {}): Promise<ServiceSecrets> {
  const file = mqttLoginsPath(dataDir);
  let secrets: ServiceSecrets | undefined;
  try {
    secrets = loginsFile.parse(JSON.parse(await readFile(file, 'utf8')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the MQTT logins in ${file}: ${(error as Error).message}`);
  }
  if (!secrets) {
    secrets = { platform: newMqttSecret(), chirpstack: newMqttSecret(), operator: newMqttSecret() };
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  }
  return overrides.chirpstack ? { ...secrets, chirpstack: overrides.chirpstack } : secrets;
}

export const serviceLogin = (secrets: ServiceSecrets, identity: ServiceIdentity): MqttLogin => ({ username: serviceUsernames[identity], password: secrets[identity] });

export { serviceIdentities };
