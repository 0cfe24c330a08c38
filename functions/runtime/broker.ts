// The embedded MQTT broker (aedes) for `npm start` without MQTT_URL. Meter clients are held to their own
// topics (functions/domain/device-access.ts), as the IoT policy holds them in the cloud.
import net from 'node:net';
import { Aedes } from 'aedes';
import { mayPublish, maySubscribe } from '#domain/device-access';

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(port: number, host = '127.0.0.1'): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({
    // MQTT 3.1.1 has no negative PUBACK: a refused publish disconnects the client and is not forwarded.
    authorizePublish: (client, packet, callback) => {
      if (client && !mayPublish(client.id, packet.topic)) callback(new Error(`client ${client.id} may not publish to ${packet.topic}`));
      else callback(null);
    },
    authorizeSubscribe: (client, subscription, callback) => {
      // A refused subscription gets a failure return code (0x80) in SUBACK; the client stays connected.
      callback(null, maySubscribe(client.id, subscription.topic) ? subscription : null);
    },
  });
  const server = net.createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `mqtt://${host}:${actualPort}`,
    port: actualPort,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
