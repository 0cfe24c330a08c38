// The ingestion handler: a batch of inbound messages (ChirpStack events, ESP32 meter messages) is
// parsed, matched to registered devices, decoded and written with a few set-based statements. The same
// function runs behind SQS in the cloud and behind the broker subscription (and HTTP integration)
// locally. The steps live beside it: classify.ts (topic and body to a typed message or a quarantine
// reason), uplink.ts (decode to a reading), events.ts (network events, ESP32 messages), batch-writer.ts.
//
// At-least-once in, exactly-once effect: readings are keyed by ChirpStack's deduplicationId (and by
// device + fCnt + time), events by their own keys, quarantine by the message digest; a redelivered
// message writes nothing new. Nothing is lost: what cannot be processed goes to the quarantine with its
// reason (text PostgreSQL cannot store replaced, and said so: see quarantineRow), and only a failure to
// write at all (database unavailable) asks for redelivery. A message the database refuses even as a
// quarantine row is logged and dropped (counted in `dropped`), never redelivered for ever.
import type { ClockPolicy } from '#domain/clock';
import { escapedText } from '#domain/text';
import type { Db } from '#store/db';
import type { Logger } from '#shared/logger';
import { isDataError } from '#store/errors';
import { loadDevices, type IngestDevice } from '#store/ingest/devices';
import type { Metrics } from '../metrics.ts';
import { BatchWriter, type BatchFeedback, type Outcome } from './batch-writer.ts';
import { classify, topicDevice } from './classify.ts';
import { handleEsp32, handleNetworkEvent } from './events.ts';
import { payloadText, type InboundMessage } from './inbound.ts';
import { handleUp } from './uplink.ts';

export type { BatchFeedback, Outcome } from './batch-writer.ts';

export interface IngestDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** How long a display command created here may wait for its device. */
  commandExpiryHours: number;
  /** Receives command confirmations (txack, ack, Modbus responses, ESP32 balance reports). */
  onFeedback?: (feedback: BatchFeedback) => Promise<void>;
  /** Receives the ids of commands created here (display actuations) for dispatch. */
  onCommandsCreated?: (ids: string[]) => Promise<void>;
  /** How far ahead of its receive time a message may be dated, and what happens beyond (default: 300 s, correct). */
  clock?: ClockPolicy;
  /** Messages ingested by kind, quarantine additions (GET /metrics locally, CloudWatch in the cloud). */
  metrics?: Metrics;
}

export interface IngestResult {
  received: number;
  readings: number;
  events: number;
  quarantined: number;
  /** Messages whose effect could not be committed (database unavailable): redeliver them. */
  retry: string[];
  /**
   * Messages the database refused even as a sanitised quarantine row: logged with the reason and dropped,
   * never redelivered (a redelivery would be refused again, for ever). Expected to stay 0.
   */
  dropped?: number;
  outcomes: Map<string, Outcome>;
}

export async function ingestBatch(deps: IngestDeps, messages: InboundMessage[]): Promise<IngestResult> {
  const parsed = messages.map((m) => classify(m, deps.clock));
  const devEuis = new Set<string>();
  const meterNos = new Set<string>();
  for (const p of parsed) {
    if (p.kind === 'chirpstack') devEuis.add(p.devEui);
    else if (p.kind === 'esp32') meterNos.add(p.value.meterNo);
  }
  const w = new BatchWriter();
  let devices: IngestDevice[];
  try {
    devices = await loadDevices(deps.db, [...devEuis], [...meterNos]);
  } catch (error) {
    deps.logger.error('ingest: device lookup failed; batch will be redelivered', { error: error as Error, messages: messages.length });
    return { received: messages.length, readings: 0, events: 0, quarantined: 0, retry: messages.map((m) => m.id), outcomes: new Map() };
  }
  const byEui = new Map(devices.filter((d) => d.dev_eui).map((d) => [d.dev_eui ?? '', d]));
  const byMeterNo = new Map(devices.filter((d) => d.meter_no).map((d) => [d.meter_no ?? '', d]));

  // Uplinks in device time order, so counters and occupancy advance in the order things happened.
  const ordered = [...parsed].sort((a, b) => {
    const ta = a.kind === 'chirpstack' && a.value.type === 'up' ? (a.value.event.time?.getTime() ?? 0) : 0;
    const tb = b.kind === 'chirpstack' && b.value.type === 'up' ? (b.value.event.time?.getTime() ?? 0) : 0;
    return ta - tb;
  });
  // The same message twice in one batch (a redelivery racing the original) is processed once.
  const seen = new Set<string>();
  const firstTime = (key: string, msg: InboundMessage) => {
    if (seen.has(key)) {
      w.outcomes.set(msg.id, 'duplicate');
      return false;
    }
    seen.add(key);
    return true;
  };
  for (const p of ordered) {
    try {
      if (p.kind === 'quarantine') w.quarantineMessage(p);
      else if (p.kind === 'esp32') {
        if (firstTime(`esp32:${p.value.meterNo}:${p.value.type}:${p.value.body.timestamp.getTime()}`, p.msg)) {
          handleEsp32(w, p, byMeterNo.get(p.value.meterNo));
        }
      } else if (p.value.type === 'up') {
        if (firstTime(`up:${p.value.event.deduplicationId}`, p.msg)) handleUp(w, deps, p.msg, p.value.event, byEui.get(p.devEui), p.clock);
      } else handleNetworkEvent(w, p.msg, p.value, byEui.get(p.devEui));
    } catch (error) {
      // A message this code cannot handle must not hold up the rest: keep it, with the reason.
      w.quarantineMessage({ msg: p.msg, reasonCode: 'processing_error', reason: `could not process: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  try {
    const { inserted, newQuarantine, commandIds, overAllowance } = await w.write(deps.db);
    if (overAllowance) deps.logger.warn('ingest: quarantine allowance used up; messages counted, not stored', { count: overAllowance });
    if (commandIds.length) await deps.onCommandsCreated?.(commandIds);
    if (newQuarantine.length) {
      const fresh = new Set(newQuarantine);
      const items = [...w.quarantine.values()].filter((q) => fresh.has(q.dedup_key));
      // One line per batch, naming each device and why: not a stack trace per message.
      deps.logger.warn('ingest: messages quarantined', {
        count: items.length,
        items: items.slice(0, 20).map((q) => ({ device: q.dev_eui ?? q.meter_no ?? q.topic, reason: q.reason_code, detail: q.reason.slice(0, 200) })),
      });
    }
    if (deps.onFeedback && w.hasFeedback()) await deps.onFeedback(w.feedback);
    countIngested(deps.metrics, parsed, newQuarantine.length);
    return {
      received: messages.length,
      readings: inserted,
      events: w.events.length,
      quarantined: w.quarantine.size,
      retry: [],
      outcomes: w.outcomes,
    };
  } catch (error) {
    // Refused values (or a value no statement can be built from: RangeError is a stack overflow or a
    // string too long) fail the same way every time: find the message to blame rather than retry.
    if (isDataError(error) || error instanceof RangeError) return isolateRejected(deps, messages, error);
    deps.logger.error('ingest: batch write failed; batch will be redelivered', { error: error as Error, messages: messages.length });
    return { received: messages.length, readings: 0, events: 0, quarantined: 0, retry: messages.map((m) => m.id), outcomes: new Map() };
  }
}

/**
 * The database refused the batch's data (a value out of range for its column, text it cannot store):
 * one message is to blame, not the database. Split the batch in halves until the rejected message stands
 * alone, and quarantine it with the database's reason; the rest is written as usual. Every write is
 * idempotent, so what the failed attempt had already written is not written twice.
 */
async function isolateRejected(deps: IngestDeps, messages: InboundMessage[], error: unknown): Promise<IngestResult> {
  if (messages.length > 1) {
    const middle = Math.ceil(messages.length / 2);
    const parts = [await ingestBatch(deps, messages.slice(0, middle)), await ingestBatch(deps, messages.slice(middle))];
    return parts.reduce((a, b) => ({
      received: a.received + b.received,
      readings: a.readings + b.readings,
      events: a.events + b.events,
      quarantined: a.quarantined + b.quarantined,
      retry: [...a.retry, ...b.retry],
      dropped: (a.dropped ?? 0) + (b.dropped ?? 0),
      outcomes: new Map([...a.outcomes, ...b.outcomes]),
    }));
  }
  const w = new BatchWriter();
  const [msg] = messages;
  if (!msg) return { received: 0, readings: 0, events: 0, quarantined: 0, retry: [], outcomes: new Map() };
  const reason = error instanceof Error ? error.message : String(error);
  w.quarantineMessage({
    msg,
    reasonCode: 'write_rejected',
    reason: `the database refused this message's values: ${reason.slice(0, 500)}`,
    ...topicDevice(msg.topic),
  });
  try {
    const { newQuarantine } = await w.write(deps.db);
    deps.metrics?.count('ingest_messages', 1, 'unparsed');
    if (newQuarantine.length) deps.metrics?.count('ingest_quarantined', newQuarantine.length);
    deps.logger.warn('ingest: message quarantined, its values were refused by the database', { topic: msg.topic, reason: reason.slice(0, 200) });
    return { received: 1, readings: 0, events: 0, quarantined: 1, retry: [], outcomes: w.outcomes };
  } catch (quarantineError) {
    if (isDataError(quarantineError) || quarantineError instanceof RangeError) {
      // The quarantine row is sanitised, so this should not happen; if it does, redelivering the message
      // would fail the same way for ever. Keep what can be kept in the log, and let it go.
      const payload = payloadText(msg.payload);
      deps.logger.error('ingest: message dropped, the database refused it even as a quarantine row', {
        error: quarantineError as Error,
        reason: reason.slice(0, 500),
        topic: escapedText(msg.topic.slice(0, 1000)),
        payload: payload.text.slice(0, 4000),
        payloadEncoding: payload.encoding,
      });
      return { received: 1, readings: 0, events: 0, quarantined: 0, retry: [], dropped: 1, outcomes: new Map([[msg.id, 'dropped']]) };
    }
    deps.logger.error('ingest: could not quarantine a refused message; it will be redelivered', { error: quarantineError as Error });
    return { received: 1, readings: 0, events: 0, quarantined: 0, retry: [msg.id], outcomes: new Map() };
  }
}

/** Counted once a batch is committed (a batch to be redelivered counts when it is): kind is uplink, ChirpStack event type, esp32 or unparsed. */
function countIngested(metrics: Metrics | undefined, parsed: ReturnType<typeof classify>[], quarantineAdded: number): void {
  if (!metrics) return;
  const byKind = new Map<string, number>();
  for (const p of parsed) {
    const kind = p.kind === 'chirpstack' ? (p.value.type === 'up' ? 'uplink' : p.value.type) : p.kind === 'esp32' ? 'esp32' : 'unparsed';
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  for (const [kind, n] of byKind) metrics.count('ingest_messages', n, kind);
  if (quarantineAdded) metrics.count('ingest_quarantined', quarantineAdded);
}
