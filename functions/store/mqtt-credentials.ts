// ESP32 meters' MQTT credentials: the slow hash of each device's secret, keyed by the device and found by
// the username (meterNo) the broker is given. A device that is decommissioned or no longer an ESP32 with
// that meterNo has no usable credential, whatever row is left.
import { sql } from 'kysely';
import type { Executor } from './db.ts';
import type { MqttCredential } from './schema.ts';

/** Store (or replace: rotation) the device's credential. */
export async function upsertMqttCredential(db: Executor, row: { device_id: string; username: string; password_hash: string; issued_at: Date }): Promise<void> {
  await db
    .insertInto('mqtt_credentials')
    .values(row)
    .onConflict((oc) => oc.column('device_id').doUpdateSet({ username: row.username, password_hash: row.password_hash, issued_at: row.issued_at }))
    .execute();
}

/** Remove the device's credential; false when it had none. */
export async function deleteMqttCredential(db: Executor, deviceId: string): Promise<boolean> {
  const result = await db.deleteFrom('mqtt_credentials').where('device_id', '=', deviceId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function findMqttCredentialOfDevice(db: Executor, deviceId: string): Promise<MqttCredential | undefined> {
  return db.selectFrom('mqtt_credentials').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
}

/** What a broker may accept: credentials of ESP32 devices that are not decommissioned and still carry the meterNo. */
const usable = (db: Executor) =>
  db
    .selectFrom('mqtt_credentials as c')
    .innerJoin('devices as d', 'd.id', 'c.device_id')
    .select(['c.username', 'c.password_hash'])
    .where('d.kind', '=', 'esp32')
    .where('d.lifecycle', '<>', 'decommissioned')
    .where(sql<boolean>`d.meter_no = c.username`);

export async function findUsableMqttCredential(db: Executor, username: string): Promise<{ username: string; password_hash: string } | undefined> {
  return usable(db).where('c.username', '=', username).executeTakeFirst();
}

export async function listUsableMqttCredentials(db: Executor): Promise<{ username: string; password_hash: string }[]> {
  return usable(db).orderBy('c.username').execute();
}
