// The cloud device publisher: IoT Core's data plane (Publish, QoS 1) to a device's command topic.
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import type { DevicePublisher } from '#app/commands/ports';

/** The account's data endpoint host (xxxx-ats.iot.<region>.amazonaws.com) as a client. */
export function iotDataClient(endpoint: string | undefined): IoTDataPlaneClient {
  if (!endpoint) return new IoTDataPlaneClient({});
  return new IoTDataPlaneClient({ endpoint: /^https?:\/\//.test(endpoint) ? endpoint : `https://${endpoint}` });
}

export function iotDevicePublisher(client: IoTDataPlaneClient): DevicePublisher {
  return {
    async publish(topic, payload, options) {
      await client.send(new PublishCommand({ topic, qos: options.qos, retain: false, payload: new TextEncoder().encode(payload) }));
    },
  };
}
