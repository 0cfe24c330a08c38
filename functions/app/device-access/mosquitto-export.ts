// The Mosquitto password file and ACL for the same identities and rules as the embedded broker: the
// service identities with their secrets hashed here, the meters with the hashes the API stored (the
// secrets themselves are nowhere to be exported), and the ACL from the domain rule set.
import type { Executor } from '#store/db';
import { listUsableMqttCredentials } from '#store/mqtt-credentials';
import { mosquittoAcl, serviceIdentities, serviceUsernames, type ServiceIdentity } from '#domain/device-access';
import { hashMqttSecret } from './mqtt-password.ts';

export interface MosquittoFiles {
  /** `password_file`: one `username:$7$…` line per identity. */
  passwordFile: string;
  /** `acl_file`. */
  aclFile: string;
  meters: number;
}

export async function mosquittoFiles(db: Executor, serviceSecrets: Record<ServiceIdentity, string>): Promise<MosquittoFiles> {
  const meters = await listUsableMqttCredentials(db);
  const services = await Promise.all(serviceIdentities.map(async (s) => `${serviceUsernames[s]}:${await hashMqttSecret(serviceSecrets[s])}`));
  return {
    passwordFile: [...services, ...meters.map((m) => `${m.username}:${m.password_hash}`)].join('\n') + '\n',
    aclFile: mosquittoAcl(meters.map((m) => m.username)),
    meters: meters.length,
  };
}
