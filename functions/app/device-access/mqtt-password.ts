// MQTT secrets and their slow hash, in Mosquitto's PBKDF2-SHA512 format (`$7$iterations$salt$hash`, what
// `mosquitto_passwd` writes): one stored form that the embedded broker verifies and the Mosquitto password
// file carries as it is, so no broker ever needs the secret itself.
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/**
 * Iterations for new hashes. The secrets are 256 random bits, so the work factor is a second line behind
 * their entropy, not the first; it is paid on every connect by Mosquitto's single thread, so it is kept
 * at a few milliseconds (Mosquitto's own default is 101). Stored in each hash, so raising it later only
 * affects secrets issued afterwards.
 */
export const MQTT_HASH_ITERATIONS = 20_000;
const SALT_BYTES = 12; // as mosquitto_passwd
const HASH_BYTES = 64; // SHA-512
const pattern = /^\$7\$(\d{1,7})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** A new secret as shown to its holder once: 32 random bytes, base64url (43 characters). */
export const newMqttSecret = (): string => randomBytes(32).toString('base64url');

export async function hashMqttSecret(secret: string, iterations = MQTT_HASH_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await pbkdf2Async(secret, salt, iterations, HASH_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Does the secret match the stored hash? A malformed hash matches nothing. */
export async function verifyMqttSecret(secret: string, stored: string): Promise<boolean> {
  const m = pattern.exec(stored);
  if (!m) return false;
  const iterations = Number(m[1]);
  const expected = Buffer.from(m[3] ?? '', 'base64');
  if (iterations < 1 || expected.length !== HASH_BYTES) return false;
  const actual = await pbkdf2Async(secret, Buffer.from(m[2] ?? '', 'base64'), iterations, HASH_BYTES, 'sha512');
  return timingSafeEqual(actual, expected);
}
