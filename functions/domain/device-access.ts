// Least-privilege topic access for ESP32 meters, the local twin of the IoT policy in lib/device-access.ts:
// a client whose id is `smartmeter-{meterNo}` (the IoT thing name in the cloud) may publish only its own
// data topics and subscribe only to its own command topics. Other clients (the platform, ChirpStack,
// tools) are not meters and are not restricted by this rule.

const meterClient = /^smartmeter-([A-Za-z0-9_-]{1,64})$/;
const meterPublishable = new Set(['consumption', 'status', 'balance']);

export function meterNoOfClient(clientId: string): string | undefined {
  return meterClient.exec(clientId)?.[1];
}

export function mayPublish(clientId: string, topic: string): boolean {
  const meterNo = meterNoOfClient(clientId);
  if (meterNo === undefined) return true;
  const parts = topic.split('/');
  return parts.length === 3 && parts[0] === 'smartmeter' && parts[1] === meterNo && meterPublishable.has(parts[2] ?? '');
}

export function maySubscribe(clientId: string, topicFilter: string): boolean {
  const meterNo = meterNoOfClient(clientId);
  if (meterNo === undefined) return true;
  const parts = topicFilter.split('/');
  return parts[0] === 'smartmeter' && parts[1] === meterNo && parts[2] === 'command' && parts.length >= 3;
}
