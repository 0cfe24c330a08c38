// JSON in and out of the simulator: text that may not be JSON, and events published as ChirpStack does
// (QoS 1, not retained).
import type { MqttClient } from 'mqtt';

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export type PublishEvent = (topic: string, event: Record<string, unknown>) => Promise<void>;

export const mqttEventPublisher =
  (mqtt: MqttClient): PublishEvent =>
  async (topic, event) => {
    await mqtt.publishAsync(topic, JSON.stringify(event), { qos: 1 });
  };
