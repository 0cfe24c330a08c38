// The local device publisher: the runtime's own MQTT client, on whatever broker it is connected to.
import type { MqttClient } from 'mqtt';
import type { DevicePublisher } from '#app/commands/ports';

export function mqttDevicePublisher(client: MqttClient): DevicePublisher {
  return {
    async publish(topic, payload, options) {
      await client.publishAsync(topic, payload, { qos: options.qos, retain: false });
    },
  };
}
