// `npm run mqtt:login -- <platform|chirpstack|operator>`: print a service identity's login for the embedded
// broker (username and password, from DATA_DIR/mqtt-logins.json), e.g. for ChirpStack's MQTT integration or
// `mosquitto_sub -u quantify.operator -P … -t 'smartmeter/#'`. Meters get theirs from the API.
import 'dotenv/config';
import path from 'node:path';
import { serviceIdentities, type ServiceIdentity } from '#domain/device-access';
import { loadOrCreateServiceSecrets, serviceLogin } from '#runtime/mqtt-logins';
import { localConfigSchema, parseConfig } from '#shared/config';

const [identity = 'operator'] = process.argv.slice(2);
if (!(serviceIdentities as readonly string[]).includes(identity)) {
  console.error(`usage: npm run mqtt:login -- <${serviceIdentities.join('|')}>`);
  process.exit(2);
}
const config = parseConfig(localConfigSchema, process.env);
const secrets = await loadOrCreateServiceSecrets(path.resolve(config.DATA_DIR), { chirpstack: config.MQTT_CHIRPSTACK_PASSWORD });
const login = serviceLogin(secrets, identity as ServiceIdentity);
console.log(`username=${login.username}\npassword=${login.password}`);
