// Who may do what on the MQTT broker: the one rule set behind the embedded broker's authorization, the
// Mosquitto ACL export and (through the topic grammar) the cloud IoT policies. A client is authorized by the
// identity its credentials prove, never by the client id it claims.
//
// Identity scheme (the same locally and in IoT Core): a meter's identity is its meterNo; it is the MQTT
// username, the MQTT client id and the IoT thing name, and its topics are smartmeter/{meterNo}/…. The
// service identities have names with a dot, which no meterNo can contain, so they can never collide.
import { chirpstackCommandFilter, chirpstackEventFilter, esp32CommandFilter, esp32ReportKinds, esp32ReportTopic, esp32Root, isMeterNo, meterClientId, topicMatches } from './topics.ts';

/** The platform itself (ingest, commands, the ChirpStack simulator): trusted with every topic. */
export const platformUsername = 'quantify.platform';
/** ChirpStack's MQTT integration: publishes device events, reads its command topics. */
export const chirpstackUsername = 'quantify.chirpstack';
/** Operator tools (mosquitto_sub, MQTT Explorer): read the device trees, publish nothing. */
export const operatorUsername = 'quantify.operator';

/**
 * ChirpStack's IoT thing (and client id) in the cloud. IoT thing names allow `:` but no `.`; no meterNo
 * can hold a `:`, so no meter's thing can take this name.
 */
export const chirpstackThingName = 'quantify:chirpstack';

export const serviceIdentities = ['platform', 'chirpstack', 'operator'] as const;
export type ServiceIdentity = (typeof serviceIdentities)[number];
export const serviceUsernames: Record<ServiceIdentity, string> = { platform: platformUsername, chirpstack: chirpstackUsername, operator: operatorUsername };

export type MqttIdentity = { kind: ServiceIdentity } | { kind: 'meter'; meterNo: string };

/** The identity a username names (undefined: none; meters are then looked up by meterNo). */
export function serviceIdentityOf(username: string): ServiceIdentity | undefined {
  return serviceIdentities.find((s) => serviceUsernames[s] === username);
}

export const usernameOf = (identity: MqttIdentity): string => (identity.kind === 'meter' ? identity.meterNo : serviceUsernames[identity.kind]);

/** May this identity connect with this client id? A meter only as itself; services with any id. */
export function mayConnect(identity: MqttIdentity, clientId: string): boolean {
  return identity.kind !== 'meter' || clientId === meterClientId(identity.meterNo);
}

/** The trees operator tools may read: the devices' and their network server's, never `#` as a whole. */
const operatorReadFilters = [`${esp32Root}/#`, 'application/#'];

export interface PublishRequest {
  topic: string;
  retain: boolean;
}

export function mayPublish(identity: MqttIdentity, { topic, retain }: PublishRequest): boolean {
  switch (identity.kind) {
    case 'platform':
      return true;
    case 'operator':
      return false;
    case 'chirpstack':
      // A retained event would be replayed to every later subscriber as if it were new.
      return !retain && topicMatches(chirpstackEventFilter, topic);
    case 'meter':
      return !retain && esp32ReportKinds.some((kind) => esp32ReportTopic(identity.meterNo, kind) === topic);
  }
}

/**
 * The largest payload each identity may publish (bytes); the platform is not limited. A meter's messages are
 * small JSON; a ChirpStack event carries at most 242 bytes of application data (LoRaWAN's largest, DR4+ in
 * most regions), base64 in JSON with the metadata of every gateway that heard it, which stays well inside 64 KiB.
 */
export const publishLimitBytes: Record<MqttIdentity['kind'], number | undefined> = { platform: undefined, chirpstack: 64 * 1024, meter: 4 * 1024, operator: 0 };

/** The largest inbound message ingestion takes on a topic: a meter's on its tree, ChirpStack's elsewhere. */
export function inboundLimitBytes(topic: string): number {
  return (topic.startsWith(`${esp32Root}/`) ? publishLimitBytes.meter : publishLimitBytes.chirpstack) ?? 0;
}

/** How much of a payload over its limit the quarantine keeps (with its size and SHA-256): enough to see what it was. */
export const quarantineKeepBytes = 4 * 1024;

/**
 * How many quarantine rows one source (a device, or a topic's first two levels when it names none) may add
 * per hour; what is over is counted per source and hour, not stored.
 */
export const quarantinePerSourceHour = 200;

/** Does a subscription filter stay inside `allowed` (no wildcard reaching above or beside it)? */
function filterWithin(allowed: string, filter: string): boolean {
  const a = allowed.split('/');
  const f = filter.split('/');
  for (let i = 0; i < f.length; i++) {
    const ai = a[i];
    const fi = f[i];
    if (ai === undefined) return false;
    if (ai === '#') return true;
    if (fi === '#') return false; // reaches levels `allowed` does not cover at this depth
    if (ai === '+') continue; // any level, wildcard or not
    if (fi !== ai) return false;
  }
  return f.length === a.length || a[f.length] === '#';
}

export function maySubscribe(identity: MqttIdentity, filter: string): boolean {
  switch (identity.kind) {
    case 'platform':
      return true;
    case 'operator':
      return operatorReadFilters.some((allowed) => filterWithin(allowed, filter));
    case 'chirpstack':
      return filterWithin(chirpstackCommandFilter, filter);
    case 'meter':
      return filterWithin(esp32CommandFilter(identity.meterNo), filter);
  }
}

/**
 * The Mosquitto ACL for these identities, the same rules in Mosquitto's words (`topic read|write|readwrite`
 * per user). Mosquitto cannot refuse a retained publish by topic: brokers that need that use the embedded
 * broker, or run Mosquitto with `retain_available false` (the README says so).
 */
export function mosquittoAcl(meterNos: readonly string[]): string {
  const lines = [
    '# Generated by `npm run mqtt:export-mosquitto` from functions/domain/device-access.ts. Do not edit:',
    '# regenerate after issuing, rotating or revoking meter credentials.',
    '',
    `user ${platformUsername}`,
    'topic readwrite #',
    '',
    `user ${chirpstackUsername}`,
    `topic write ${chirpstackEventFilter}`,
    `topic read ${chirpstackCommandFilter}`,
    '',
    `user ${operatorUsername}`,
    ...operatorReadFilters.map((f) => `topic read ${f}`),
  ];
  for (const meterNo of meterNos) {
    if (!isMeterNo(meterNo)) throw new Error(`not a meter number: ${JSON.stringify(meterNo)}`);
    lines.push('', `user ${meterNo}`, ...esp32ReportKinds.map((kind) => `topic write ${esp32ReportTopic(meterNo, kind)}`), `topic read ${esp32CommandFilter(meterNo)}`);
  }
  return lines.join('\n') + '\n';
}
