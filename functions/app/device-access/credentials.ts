// ESP32 meters' MQTT credentials: issued (or rotated) by an operator, shown once, kept only as a slow hash,
// revoked; each change audited in its transaction. The broker checks a meter's login here.
import { inTransaction, type Db, type Executor } from '#store/db';
import { deleteMqttCredential, findMqttCredentialOfDevice, findUsableMqttCredential, upsertMqttCredential } from '#store/mqtt-credentials';
import { findDevice } from '#store/registry';
import { meterClientId } from '#domain/topics';
import { audit, type Actor } from '../audit.ts';
import { DeviceDecommissionedError, DeviceNotFoundError } from '../registry/errors.ts';
import { NoMqttCredentialError, NotAnMqttDeviceError } from './errors.ts';
import { hashMqttSecret, newMqttSecret, verifyMqttSecret } from './mqtt-password.ts';

export interface IssuedMqttCredential {
  deviceId: string;
  /** The meterNo: MQTT username and client id, and the IoT thing name in the cloud. */
  username: string;
  clientId: string;
  /** Shown this once; only its hash is kept. */
  password: string;
  issuedAt: Date;
  /** A previous secret existed and no longer works. */
  rotated: boolean;
}

async function requireMqttDevice(db: Executor, deviceId: string): Promise<{ meterNo: string }> {
  const device = await findDevice(db, deviceId);
  if (!device) throw new DeviceNotFoundError(deviceId);
  if (device.kind !== 'esp32' || !device.meter_no) throw new NotAnMqttDeviceError(deviceId, device.kind);
  if (device.lifecycle === 'decommissioned') throw new DeviceDecommissionedError(deviceId);
  return { meterNo: device.meter_no };
}

/** Issue the device's MQTT credential; one it had already stops working (rotation). */
export async function issueMqttCredential(db: Db, deviceId: string, actor: Actor, now: Date): Promise<IssuedMqttCredential> {
  const password = newMqttSecret();
  // Hashed before the transaction, so the slow part holds no connection.
  const passwordHash = await hashMqttSecret(password);
  return inTransaction(db, `MQTT credential of device ${deviceId}`, async (trx) => {
    const { meterNo } = await requireMqttDevice(trx, deviceId);
    const rotated = (await findMqttCredentialOfDevice(trx, deviceId)) !== undefined;
    await upsertMqttCredential(trx, { device_id: deviceId, username: meterNo, password_hash: passwordHash, issued_at: now });
    await audit(trx, actor.principal, actor.requestId, {
      action: rotated ? 'device.mqtt_credential.rotate' : 'device.mqtt_credential.issue',
      targetType: 'device',
      targetId: deviceId,
      details: { username: meterNo },
    });
    return { deviceId, username: meterNo, clientId: meterClientId(meterNo), password, issuedAt: now, rotated };
  });
}

/** Revoke the device's MQTT credential: the broker refuses it from the next connect on. */
export async function revokeMqttCredential(db: Db, deviceId: string, actor: Actor): Promise<void> {
  await inTransaction(db, `MQTT credential of device ${deviceId}`, async (trx) => {
    const device = await findDevice(trx, deviceId);
    if (!device) throw new DeviceNotFoundError(deviceId);
    if (!(await deleteMqttCredential(trx, deviceId))) throw new NoMqttCredentialError(deviceId);
    await audit(trx, actor.principal, actor.requestId, { action: 'device.mqtt_credential.revoke', targetType: 'device', targetId: deviceId, details: { username: device.meter_no } });
  });
}

/** Does this login prove the meter `username`? Only an ESP32 device's current, usable credential does. */
export async function verifyMeterLogin(db: Executor, username: string, password: string): Promise<boolean> {
  const credential = await findUsableMqttCredential(db, username);
  return credential !== undefined && (await verifyMqttSecret(password, credential.password_hash));
}
