// The embedded MQTT broker (aedes) for `npm start` without MQTT_URL. Every client logs in; what it may
// publish and subscribe to follows from the identity its login proves (functions/domain/device-access.ts,
// the local twin of the IoT policies), never from the client id it claims. Over TLS when given a
// certificate; never anonymous beyond loopback.
import net from 'node:net';
import tls from 'node:tls';
import { timingSafeEqual } from 'node:crypto';
import { Aedes, type Client } from 'aedes';
import { mayConnect, mayPublish, maySubscribe, publishLimitBytes, serviceIdentityOf, type MqttIdentity, type ServiceIdentity } from '#domain/device-access';
import { isMeterNo } from '#domain/topics';
import { ConfigError } from '#shared/config';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** Where the platform's own client connects: `url`, or with TLS a plain listener on loopback only. */
  localUrl: string;
  /** Hear each meter identity that connects (logged in with its own credential): an ESP32 back online. */
  onMeterConnected(listener: (meterNo: string) => void): void;
  close(): Promise<void>;
}

export interface BrokerAccess {
  /** The service identities' secrets (runtime/mqtt-logins.ts). */
  serviceSecrets: Record<ServiceIdentity, string>;
  /** Does this login prove the meter `meterNo`? (its credential issued by the API) */
  verifyMeter(meterNo: string, password: string): Promise<boolean>;
  /** MQTT_ALLOW_ANONYMOUS: a client without a username is let in as trusted (a throwaway demo only). */
  allowAnonymous: boolean;
}

export interface BrokerOptions {
  port: number;
  host?: string;
  access: BrokerAccess;
  /** PEM certificate (chain) and key: the broker speaks MQTT over TLS (mqtts://). */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/** MQTT 3.1.1 CONNACK return codes (aedes' AuthErrorCode, a const enum we cannot import). */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

const refusal = (message: string, returnCode: number) => Object.assign(new Error(message), { returnCode });

const sameSecret = (given: string, expected: string) => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

export async function startEmbeddedBroker(options: BrokerOptions): Promise<EmbeddedBroker> {
  const { port, host = '127.0.0.1', access } = options;
  if (access.allowAnonymous && !isLoopback(host)) {
    throw new ConfigError(`refusing to expose an anonymous MQTT broker on ${host}: MQTT_ALLOW_ANONYMOUS is for a throwaway demo on loopback only`);
  }
  if (!options.tls && !isLoopback(host)) {
    throw new ConfigError(`refusing to serve MQTT without TLS on ${host}: set MQTT_TLS_CERT and MQTT_TLS_KEY (or HOST=127.0.0.1)`);
  }
  const identities = new WeakMap<Client, MqttIdentity>();

  async function identify(username: string | undefined, password: string): Promise<MqttIdentity | undefined> {
    if (username === undefined) return access.allowAnonymous ? { kind: 'platform' } : undefined;
    const service = serviceIdentityOf(username);
    if (service) return sameSecret(password, access.serviceSecrets[service]) ? { kind: service } : undefined;
    if (isMeterNo(username) && (await access.verifyMeter(username, password))) return { kind: 'meter', meterNo: username };
    return undefined;
  }

  const broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      identify(username, password?.toString('utf8') ?? '').then(
        (identity) => {
          if (!identity) return done(refusal(username === undefined ? 'anonymous clients are refused' : 'bad username or password', username === undefined ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD), false);
          if (!mayConnect(identity, client.id)) return done(refusal(`identity ${username} may not use client id ${client.id}`, NOT_AUTHORIZED), false);
          identities.set(client, identity);
          done(null, true);
        },
        // The credential store failed (the database is down): refuse this connect, the client retries.
        (error: unknown) => done(refusal(`cannot check the login now: ${(error as Error).message}`, SERVER_UNAVAILABLE), false),
      );
    },
    // MQTT 3.1.1 has no negative PUBACK: a refused publish disconnects the client and is not forwarded.
    authorizePublish: (client, packet, callback) => {
      if (!client) return callback(null); // the broker's own messages ($SYS)
      const identity = identities.get(client);
      const allowed = identity !== undefined && mayPublish(identity, { topic: packet.topic, retain: packet.retain });
      const limit = identity ? publishLimitBytes[identity.kind] : undefined;
      const tooLarge = limit !== undefined && packet.payload.length > limit;
      if (!allowed) callback(new Error(`client ${client.id} may not publish${packet.retain ? ' retained' : ''} to ${packet.topic}`));
      else if (tooLarge) callback(new Error(`client ${client.id} published ${packet.payload.length} bytes, more than its ${limit}`));
      else callback(null);
    },
    authorizeSubscribe: (client, subscription, callback) => {
      // A refused subscription gets a failure return code (0x80) in SUBACK; the client stays connected.
      const identity = identities.get(client);
      callback(null, identity && maySubscribe(identity, subscription.topic) ? subscription : null);
    },
  });
  const meterListeners: ((meterNo: string) => void)[] = [];
  // 'client' fires once a client has connected and been authenticated.
  broker.on('client', (client) => {
    const identity = identities.get(client);
    if (identity?.kind === 'meter') for (const listener of meterListeners) listener(identity.meterNo);
  });
  const listen = async (server: net.Server, listenPort: number, listenHost: string) => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, listenHost, () => resolve());
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : listenPort;
  };
  const urlOf = (scheme: string, h: string, p: number) => `${scheme}://${h.includes(':') ? `[${h}]` : h}:${p}`;
  const servers: net.Server[] = [];
  try {
    const server = options.tls ? tls.createServer({ cert: options.tls.cert, key: options.tls.key }, broker.handle) : net.createServer(broker.handle);
    servers.push(server);
    const actualPort = await listen(server, port, host);
    const url = urlOf(options.tls ? 'mqtts' : 'mqtt', host, actualPort);
    let localUrl = url;
    if (options.tls) {
      // The platform's own client: the same broker and logins, without TLS to itself over loopback.
      const local = net.createServer(broker.handle);
      servers.push(local);
      localUrl = urlOf('mqtt', '127.0.0.1', await listen(local, 0, '127.0.0.1'));
    }
    return {
      url,
      localUrl,
      port: actualPort,
      onMeterConnected: (listener) => void meterListeners.push(listener),
      close: async () => {
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
      },
    };
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const s of servers) s.close();
    throw error;
  }
}
