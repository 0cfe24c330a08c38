// The MQTT topic grammar, written once: ChirpStack v4's integration topics and the ESP32 meters' own
// (seed esp32-mqtt-architecture.md), with the identifiers they carry (DevEUI, meter number). The route
// table, the IoT policy, the broker's rules, ingest and the simulators build and parse topics here.
import * as z from 'zod';

/** A LoRaWAN DevEUI as operators type it: separators (`-`, `:`, spaces) are dropped and letters lowered. */
export const devEuiSchema = z
  .string()
  .max(64)
  .transform((s) => s.replace(/[-:\s]/g, '').toLowerCase())
  .pipe(z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits (the LoRaWAN DevEUI)'));

/**
 * A DevEUI as the network writes it (ChirpStack events, topics, REST paths): exactly 16 hex digits, either
 * case, lowered. Stricter than what operators may type, so a simulator or parser accepts no more than
 * ChirpStack itself does.
 */
export const wireDevEuiSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{16}$/, 'must be 16 hex digits')
  .transform((s) => s.toLowerCase());

const meterNoPattern = /^[A-Za-z0-9_-]{1,64}$/;
/** A meter number: what ESP32 topics and client ids carry, and what customers type. */
export const meterNoSchema = z.string().regex(meterNoPattern, 'letters, digits, _ and - only (1-64)');
export const isMeterNo = (value: string): boolean => meterNoPattern.test(value);

// --- ChirpStack v4 MQTT integration: application/{applicationId}/device/{devEui}/event/{type} ---

export const chirpstackEventFilter = 'application/+/device/+/event/+';
/** The downlink commands ChirpStack's MQTT integration takes (`…/command/down`, `…/command/flush`). */
export const chirpstackCommandFilter = 'application/+/device/+/command/+';
const chirpstackPattern = /^application\/([^/]+)\/device\/([0-9a-fA-F]{16})\/event\/([a-z]+)$/;

export interface ChirpstackTopic {
  applicationId: string;
  /** Lower case. */
  devEui: string;
  type: string;
}

export const chirpstackTopic = (applicationId: string, devEui: string, type: string): string =>
  `application/${applicationId}/device/${devEui}/event/${type}`;

export function parseChirpstackTopic(topic: string): ChirpstackTopic | undefined {
  const m = chirpstackPattern.exec(topic);
  return m ? { applicationId: m[1] ?? '', devEui: (m[2] ?? '').toLowerCase(), type: m[3] ?? '' } : undefined;
}

// --- ESP32 meters: smartmeter/{meterNo}/consumption|status|balance up, smartmeter/{meterNo}/command/... down ---

export const esp32Root = 'smartmeter';
/** What a meter publishes. */
export const esp32ReportKinds = ['consumption', 'status', 'balance'] as const;
export type Esp32ReportKind = (typeof esp32ReportKinds)[number];
/** What the platform sends a meter. */
export const esp32CommandKinds = ['balance'] as const;
export type Esp32CommandKind = (typeof esp32CommandKinds)[number];

export const esp32ReportTopic = (meterNo: string, kind: Esp32ReportKind): string => `${esp32Root}/${meterNo}/${kind}`;
export const esp32CommandTopic = (meterNo: string, kind: Esp32CommandKind): string => `${esp32Root}/${meterNo}/command/${kind}`;
/** The filter matching one kind of report from every meter. */
export const esp32ReportFilter = (kind: Esp32ReportKind): string => `${esp32Root}/+/${kind}`;
/** The filter matching every command to one meter. */
export const esp32CommandFilter = (meterNo: string): string => `${esp32Root}/${meterNo}/command/#`;

export interface Esp32Topic {
  meterNo: string;
  kind: Esp32ReportKind;
}

/** A meter's report topic, or undefined for anything else (including command topics). */
export function parseEsp32Topic(topic: string): Esp32Topic | undefined {
  const parts = topic.split('/');
  if (parts.length !== 3 || parts[0] !== esp32Root) return undefined;
  const [, meterNo = '', kind = ''] = parts;
  if (!isMeterNo(meterNo) || !(esp32ReportKinds as readonly string[]).includes(kind)) return undefined;
  return { meterNo, kind: kind as Esp32ReportKind };
}

/** The meter number a topic under smartmeter/ names, valid or not (for quarantine keys and logs). */
export function esp32MeterNoOf(topic: string): string | undefined {
  const parts = topic.split('/');
  return parts[0] === esp32Root && parts.length >= 2 && parts[1] ? parts[1] : undefined;
}

/**
 * The MQTT client id, broker username and IoT thing name of a meter: its meterNo, so IoT Core's thing policy
 * variable (which takes the thing name from the client id) names the same meter as the topics.
 */
export const meterClientId = (meterNo: string): string => meterNo;

/** Does an MQTT topic match a filter with + and # wildcards? */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
