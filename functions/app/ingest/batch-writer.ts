// A batch's working state: the rows its messages produce (readings, consumption, events, quarantine,
// occupancy, device updates), the confirmations for the command system and each message's outcome,
// collected in memory and written at the end with one statement per kind.
import type { BatchFeedback } from '#domain/commands';
import type { Db } from '#store/db';
import type { IngestDevice } from '#store/ingest/devices';
import { writeEventsAndQuarantine, type DeviceEventRow, type QuarantineRow } from '#store/ingest/events';
import { writeOccupancy, type OccupancyRow } from '#store/ingest/occupancy';
import { writeConsumption, writeReadings, type ConsumptionRow, type DeviceUpdateRow, type ReadingRow } from '#store/ingest/readings';
import { escapedText, isStorableText, storable } from '#domain/text';
import { inboundLimitBytes, quarantineKeepBytes, quarantinePerSourceHour } from '#domain/device-access';
import { createHash } from 'node:crypto';
import type { QuarantineRequest } from './classify.ts';
import { messageDigest, payloadText, type InboundMessage } from './inbound.ts';

export type { BatchFeedback };

/** What became of a message; 'dropped' only when even its quarantine row was refused (see ingest.ts). */
export type Outcome = 'reading' | 'event' | 'quarantined' | 'duplicate' | 'dropped';

export const iso = (d: Date): string => d.toISOString();
/** A measurement as a column value: null when absent or not a finite number. */
export const num = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

/** When an event happened: its own time when it has a valid one, else when it was received. */
export function eventTime(msg: InboundMessage, time: Date | undefined): Date {
  return time && !Number.isNaN(time.getTime()) ? time : msg.receivedAt;
}

/**
 * A quarantine row PostgreSQL can store, whatever the message held: the payload is kept exactly (as base64
 * when it is not plain UTF-8 text); a NUL or lone surrogate in the topic or a field is replaced by U+FFFD,
 * and the reason says so and shows the topic as sent, escaped. Returns the row's dedup key and the row.
 */
export function quarantineRow(p: QuarantineRequest): [string, QuarantineRow] {
  const size = p.msg.payload.length;
  // Over its source's limit: only the head is kept, with the size and hash of what was sent.
  const truncated = size > inboundLimitBytes(p.msg.topic);
  const { text, encoding } = payloadText(truncated ? p.msg.payload.subarray(0, quarantineKeepBytes) : p.msg.payload);
  const raw = {
    source: p.msg.source,
    topic: p.msg.topic,
    dev_eui: p.devEui ?? null,
    meter_no: p.meterNo ?? null,
    reason_code: p.reasonCode,
    reason: p.reason,
    payload: text,
    payload_encoding: encoding,
    payload_bytes: size,
    payload_sha256: createHash('sha256').update(p.msg.payload).digest('hex'),
    payload_truncated: truncated,
    source_key: p.devEui ? `dev_eui:${p.devEui}` : p.meterNo ? `meter_no:${p.meterNo}` : `topic:${p.msg.topic.split('/').slice(0, 2).join('/')}`,
    // The digest is of the bytes as sent, so a redelivery of a sanitised message is the same row.
    dedup_key: p.dedupKey ?? `msg:${messageDigest(p.msg.topic, p.msg.payload)}`,
  };
  const { value: row, sanitised } = storable(raw);
  if (!sanitised) return [row.dedup_key, row];
  const fields = (Object.keys(raw) as (keyof typeof raw)[]).filter((k) => raw[k] !== row[k]);
  const note = `[sanitised: NUL or lone UTF-16 surrogate replaced by U+FFFD in ${fields.join(', ')}${isStorableText(raw.topic) ? '' : `; topic as sent: ${escapedText(raw.topic).slice(0, 1000)}`}]`;
  return [row.dedup_key, { ...row, reason: `${row.reason} ${note}` }];
}

export interface WriteResult {
  /** Readings inserted (not duplicates). */
  inserted: number;
  /** Dedup keys of the messages quarantined for the first time. */
  newQuarantine: string[];
  /** Display commands created by occupancy changes. */
  commandIds: string[];
  /** Quarantine rows not written: their source had used its hourly allowance (counted in quarantine_source_hours). */
  overAllowance: number;
}

export class BatchWriter {
  readings: ReadingRow[] = [];
  consumption: ConsumptionRow[] = [];
  events: DeviceEventRow[] = [];
  quarantine = new Map<string, QuarantineRow>();
  occupancy: OccupancyRow[] = [];
  deviceUpdates = new Map<string, DeviceUpdateRow>();
  feedback: BatchFeedback = { txAcks: [], acks: [], modbusResponses: [], balanceReports: [] };
  outcomes = new Map<string, Outcome>();

  quarantineMessage(p: QuarantineRequest) {
    this.quarantine.set(...quarantineRow(p));
    this.outcomes.set(p.msg.id, 'quarantined');
  }

  /** Records that a device was heard at `at`; fields of a later message in the batch win. */
  touchDevice(device: IngestDevice, at: Date, patch: Partial<DeviceUpdateRow> = {}) {
    const existing = this.deviceUpdates.get(device.id);
    const base: DeviceUpdateRow = existing ?? {
      id: device.id,
      last_seen_at: iso(at),
      last_f_cnt: null,
      battery_level: null,
      margin: null,
      joined_at: null,
    };
    const newer = !existing || at.getTime() >= new Date(existing.last_seen_at).getTime();
    const merged: DeviceUpdateRow = { ...base, last_seen_at: newer ? iso(at) : base.last_seen_at };
    for (const [k, v] of Object.entries(patch) as [keyof DeviceUpdateRow, never][]) {
      if (v !== null && v !== undefined && (newer || merged[k] === null)) merged[k] = v;
    }
    this.deviceUpdates.set(device.id, merged);
  }

  event(msg: InboundMessage, row: Omit<DeviceEventRow, 'level' | 'code' | 'description' | 'details'> & Partial<DeviceEventRow>) {
    this.events.push({ level: null, code: null, description: null, details: null, ...row });
    if (!this.outcomes.has(msg.id)) this.outcomes.set(msg.id, 'event');
  }

  hasFeedback(): boolean {
    const f = this.feedback;
    return f.acks.length > 0 || f.txAcks.length > 0 || f.modbusResponses.length > 0 || f.balanceReports.length > 0;
  }

  /** Writes what the batch collected. Every statement is idempotent, so a retry completes a partial write. */
  async write(db: Db): Promise<WriteResult> {
    let inserted = 0;
    if (this.readings.length || this.deviceUpdates.size) inserted = (await writeReadings(db, this.readings, [...this.deviceUpdates.values()])).inserted;
    if (this.consumption.length) inserted += (await writeConsumption(db, this.consumption)).inserted;
    let newQuarantine: string[] = [];
    let overAllowance = 0;
    if (this.events.length || this.quarantine.size) {
      ({ newQuarantine, overAllowance } = await writeEventsAndQuarantine(db, this.events, [...this.quarantine.values()], quarantinePerSourceHour));
    }
    const commandIds = this.occupancy.length ? (await writeOccupancy(db, this.occupancy)).commandIds : [];
    return { inserted, newQuarantine, commandIds, overAllowance };
  }
}
