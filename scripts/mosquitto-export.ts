// `npm run mqtt:export-mosquitto -- <dir>`: write the Mosquitto password file and ACL (mosquitto.passwd,
// mosquitto.acl) for the same identities and rules the embedded broker enforces: the service identities
// (secrets in DATA_DIR/mqtt-logins.json, MQTT_CHIRPSTACK_PASSWORD for ChirpStack's) and every meter
// credential the API issued (their hashes as stored; the secrets are nowhere). Run it again after issuing,
// rotating or revoking, then reload Mosquitto (SIGHUP). On PGlite run it while the platform is stopped
// (one process per data directory); with DATABASE_URL any time.
import 'dotenv/config';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openPglite, openPostgres } from '#adapters/db/connect';
import { loadMigrations, migrate } from '#adapters/db/migrate';
import { mosquittoFiles } from '#app/device-access/mosquitto-export';
import { lockDataDir } from '#runtime/data-dir-lock';
import { loadOrCreateServiceSecrets } from '#runtime/mqtt-logins';
import { localConfigSchema, parseConfig } from '#shared/config';

const [outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: npm run mqtt:export-mosquitto -- <output directory>');
  process.exit(2);
}
const config = parseConfig(localConfigSchema, process.env);
const dataDir = path.resolve(config.DATA_DIR);
await mkdir(dataDir, { recursive: true });
const lock = config.DATABASE_URL ? undefined : await lockDataDir(dataDir);
const handle = config.DATABASE_URL ? await openPostgres(config.DATABASE_URL) : await openPglite(path.join(dataDir, 'pgdata'));
try {
  await migrate(handle.db, await loadMigrations());
  const files = await mosquittoFiles(handle.db, await loadOrCreateServiceSecrets(dataDir, { chirpstack: config.MQTT_CHIRPSTACK_PASSWORD }));
  await mkdir(outDir, { recursive: true });
  // Written aside and renamed, so a Mosquitto reloading meanwhile reads the old file or the new, never half.
  for (const [name, text, mode] of [
    ['mosquitto.passwd', files.passwordFile, 0o600],
    ['mosquitto.acl', files.aclFile, 0o644],
  ] as const) {
    const target = path.join(outDir, name);
    await writeFile(`${target}.tmp`, text, { mode });
    await rename(`${target}.tmp`, target);
  }
  console.log(`wrote ${path.join(outDir, 'mosquitto.passwd')} and mosquitto.acl: 3 service identities, ${files.meters} meters`);
} finally {
  await handle.close();
  await lock?.stop();
}
