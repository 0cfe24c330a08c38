// ESP32 meters with MQTT credentials, registered and issued through the API as an operator would.
import { randomBytes } from 'node:crypto';
import type { ApiCall } from './http.ts';

export interface IssuedMeter {
  meterNo: string;
  deviceId: string;
  username: string;
  password: string;
}

export async function meterWithCredentials(api: ApiCall, prefix = 'M'): Promise<IssuedMeter> {
  const meterNo = `${prefix}${randomBytes(4).toString('hex').toUpperCase()}`;
  const created = await api<{ device: { id: string } }>('POST', '/meters', { meterNo, meterType: 'electricity', device: { deviceType: 'esp32_meter', meterNo } });
  if (created.status !== 201) throw new Error(`registering ${meterNo}: ${created.status} ${JSON.stringify(created.body)}`);
  const issued = await api<{ username: string; password: string }>('POST', `/devices/${created.body.device.id}/mqtt-credentials`);
  if (issued.status !== 201) throw new Error(`issuing for ${meterNo}: ${issued.status} ${JSON.stringify(issued.body)}`);
  return { meterNo, deviceId: created.body.device.id, username: issued.body.username, password: issued.body.password };
}
