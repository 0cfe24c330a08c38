// Least-privilege topic access for ESP32 meters, the local twin of the IoT policy in lib/device-access.ts:
// a client whose id is a meter's (`smartmeter-{meterNo}`, the IoT thing name in the cloud) may publish only
// its own report topics and subscribe only to its own command topics. Other clients (the platform,
// ChirpStack, tools) are not meters and are not restricted by this rule.
import { esp32CommandFilter, meterNoOfClient, parseEsp32Topic, topicMatches } from './topics.ts';

export function mayPublish(clientId: string, topic: string): boolean {
  const meterNo = meterNoOfClient(clientId);
  if (meterNo === undefined) return true;
  return parseEsp32Topic(topic)?.meterNo === meterNo;
}

export function maySubscribe(clientId: string, topicFilter: string): boolean {
  const meterNo = meterNoOfClient(clientId);
  if (meterNo === undefined) return true;
  // The filter must stay inside the meter's own command tree: no wildcard above it.
  const parts = topicFilter.split('/');
  return parts.length >= 3 && !parts.slice(0, 3).some((p) => p === '+' || p === '#') && topicMatches(esp32CommandFilter(meterNo), topicFilter);
}
