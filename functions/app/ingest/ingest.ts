// The ingestion handler: a batch of inbound messages (ChirpStack events, ESP32 meter messages) is
// parsed, matched to registered devices, decoded and written with a few set-based statements. The same
// function runs behind SQS in the cloud and behind the broker subscription (and HTTP integration)
// locally.
//
// At-least-once in, exactly-once effect: readings are keyed by ChirpStack's deduplicationId (and by
// device + fCnt + time), events by their own keys, quarantine by the message digest; a redelivered
// message writes nothing new. Nothing is lost: what cannot be processed goes to the quarantine with its
// reason, and only a failure to write at all (database unavailable) asks for redelivery.
import type { Db } from '#store/db';
import { bestSignal, parseChirpstackEvent, parseChirpstackTopic, type ChirpstackEvent, type UpEvent } from '#domain/chirpstack/events';
import { advanceCounter } from '#domain/counter';
import { decodeNetworkObject, decodeUplink, usesNetworkCodec, type DecodedUplink } from '#domain/decoders/index';
import type { BatchFeedback } from '#domain/commands';
import { resolveDisplayActuation } from '#domain/display';
import { parseEsp32, type Esp32Message } from '#domain/esp32';
import type { Logger } from '#shared/logger';
import { isDataError } from '#store/errors';
import { messageDigest, payloadText, type InboundMessage } from './inbound.ts';
import {
  loadDevices,
  writeEventsAndQuarantine,
  writeOccupancy,
  writeConsumption,
  writeReadings,
  type ConsumptionRow,
  type DeviceEventRow,
  type DeviceUpdateRow,
  type IngestDevice,
  type OccupancyRow,
  type QuarantineRow,
  type ReadingRow,
} from './store.ts';

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
}

export type Outcome = 'reading' | 'event' | 'quarantined' | 'duplicate';

export interface IngestResult {
  received: number;
  readings: number;
  events: number;
  quarantined: number;
  /** Messages whose effect could not be committed (database unavailable): redeliver them. */
  retry: string[];
  outcomes: Map<string, Outcome>;
}

type Parsed =
  | { kind: 'chirpstack'; msg: InboundMessage; devEui: string; value: ChirpstackEvent }
  | { kind: 'esp32'; msg: InboundMessage; value: Esp32Message }
  | { kind: 'quarantine'; msg: InboundMessage; reasonCode: string; reason: string; devEui?: string; meterNo?: string; dedupKey?: string };

const asBuffer = (payload: Uint8Array) => (Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));

function parseJson(payload: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(asBuffer(payload).toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

function classify(msg: InboundMessage): Parsed {
  if (msg.topic === 'queue/malformed') {
    return { kind: 'quarantine', msg, reasonCode: 'malformed_queue_message', reason: 'queue message body is not a {topic, payloadBase64} envelope' };
  }
  if (msg.topic.startsWith('integrations/chirpstack/')) {
    return { kind: 'quarantine', msg, reasonCode: 'malformed_event', reason: 'HTTP integration body is not a ChirpStack event with deviceInfo.devEui' };
  }
  const cs = parseChirpstackTopic(msg.topic);
  const esp = msg.topic.startsWith('smartmeter/') ? msg.topic.split('/')[1] : undefined;
  if (!cs && esp === undefined) return { kind: 'quarantine', msg, reasonCode: 'unknown_topic', reason: `no handler for topic ${msg.topic}` };
  const body = parseJson(msg.payload);
  if (!body.ok) {
    return { kind: 'quarantine', msg, reasonCode: 'malformed_json', reason: 'payload is not valid JSON', ...(cs ? { devEui: cs.devEui } : { meterNo: esp }) };
  }
  if (cs) {
    const parsed = parseChirpstackEvent(cs.type, body.value);
    if (!parsed.ok) return { kind: 'quarantine', msg, reasonCode: 'malformed_event', reason: parsed.reason, devEui: cs.devEui };
    if (parsed.value.event.deviceInfo.devEui !== cs.devEui) {
      return { kind: 'quarantine', msg, reasonCode: 'topic_mismatch', reason: `deviceInfo.devEui ${parsed.value.event.deviceInfo.devEui} does not match the topic's ${cs.devEui}`, devEui: cs.devEui };
    }
    return { kind: 'chirpstack', msg, devEui: cs.devEui, value: parsed.value };
  }
  const parsed = parseEsp32(msg.topic, body.value);
  if (!parsed.ok) return { kind: 'quarantine', msg, reasonCode: 'malformed_message', reason: parsed.reason, ...(parsed.meterNo ? { meterNo: parsed.meterNo } : {}) };
  return { kind: 'esp32', msg, value: parsed.value };
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const iso = (d: Date) => d.toISOString();
const num = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : v);

function readingFrom(decoded: DecodedUplink, meterValue: number | undefined): Partial<ReadingRow> {
  const m = decoded.measurements;
  return {
    reading_value: num(meterValue),
    pulse_count: num(m.pulseCount),
    temperature: num(m.temperatureC),
    humidity: num(m.humidityPercent),
    battery_level: num(m.batteryPercent),
    voltage: num(m.voltageV),
    current: num(m.currentA),
    power: num(m.powerW),
    energy_import: num(m.energyImportKwh),
    energy_export: num(m.energyExportKwh),
    frequency: num(m.frequencyHz),
    power_factor: num(m.powerFactor),
  };
}

const meteringKeys = ['meterValue', 'pulseCount', 'volumeM3', 'voltageV', 'currentA', 'powerW', 'energyImportKwh', 'energyExportKwh', 'frequencyHz', 'powerFactor', 'temperatureC', 'humidityPercent', 'batteryPercent'] as const;
const hasMeasurements = (d: DecodedUplink) => meteringKeys.some((k) => d.measurements[k] !== undefined);

/** Per-batch working state, flushed to the database at the end. */
class BatchWriter {
  readings: ReadingRow[] = [];
  consumption: ConsumptionRow[] = [];
  events: DeviceEventRow[] = [];
  quarantine = new Map<string, QuarantineRow>();
  occupancy: OccupancyRow[] = [];
  deviceUpdates = new Map<string, DeviceUpdateRow>();
  feedback: BatchFeedback = { txAcks: [], acks: [], modbusResponses: [], balanceReports: [] };
  outcomes = new Map<string, Outcome>();

  quarantineMessage(p: Extract<Parsed, { kind: 'quarantine' }> | { msg: InboundMessage; reasonCode: string; reason: string; devEui?: string; meterNo?: string; dedupKey?: string }) {
    const { text, encoding } = payloadText(p.msg.payload);
    const dedupKey = p.dedupKey ?? `msg:${messageDigest(p.msg.topic, p.msg.payload)}`;
    this.quarantine.set(dedupKey, {
      source: p.msg.source,
      topic: p.msg.topic,
      dev_eui: p.devEui ?? null,
      meter_no: p.meterNo ?? null,
      reason_code: p.reasonCode,
      reason: p.reason,
      payload: text,
      payload_encoding: encoding,
      dedup_key: dedupKey,
    });
    this.outcomes.set(p.msg.id, 'quarantined');
  }

  touchDevice(device: IngestDevice, at: Date, patch: Partial<DeviceUpdateRow> = {}) {
    const existing = this.deviceUpdates.get(device.id);
    const base: DeviceUpdateRow = existing ?? {
      id: device.id,
      last_seen_at: iso(at),
      last_f_cnt: null,
      battery_level: null,
      margin: null,
      joined_at: null,
      counter_offset: null,
      last_counter: null,
      last_counter_at: null,
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
}

function eventTime(msg: InboundMessage, time: Date | undefined): Date {
  return time && !Number.isNaN(time.getTime()) ? time : msg.receivedAt;
}

function handleUp(w: BatchWriter, deps: IngestDeps, msg: InboundMessage, event: UpEvent, device: IngestDevice | undefined) {
  const devEui = event.deviceInfo.devEui;
  const sourceKey = `up:${event.deduplicationId}`;
  if (!device) {
    w.quarantineMessage({ msg, reasonCode: 'unknown_device', reason: `no device registered with DevEUI ${devEui}`, devEui, dedupKey: sourceKey });
    return;
  }
  if (device.lifecycle === 'decommissioned') {
    w.quarantineMessage({ msg, reasonCode: 'device_decommissioned', reason: `device ${devEui} is decommissioned`, devEui, dedupKey: sourceKey });
    return;
  }
  const time = eventTime(msg, event.time);
  const bytes = Buffer.from(event.data, 'base64');
  const result =
    event.object && usesNetworkCodec(device.config)
      ? decodeNetworkObject(event.object, { decoder: device.decoder, config: device.config })
      : decodeUplink(device.decoder, { bytes, fPort: event.fPort, config: device.config });
  if (!result.ok) {
    w.quarantineMessage({ msg, reasonCode: 'decode_error', reason: `${device.decoder} could not decode fPort ${event.fPort} payload ${hex(bytes) || '(empty)'}: ${result.error.code}: ${result.error.message}`, devEui, dedupKey: sourceKey });
    return;
  }
  const decoded = result.value;
  const signal = bestSignal(event.rxInfo);

  // Pulse counters: keep the metered total monotonic across counter resets and wrap-around.
  let meterValue = decoded.measurements.meterValue;
  let counterPatch: Partial<DeviceUpdateRow> = {};
  if (decoded.measurements.pulseCount !== undefined) {
    const update = w.deviceUpdates.get(device.id);
    const state = {
      offset: update?.counter_offset ?? device.counter_offset,
      lastCount: update?.last_counter ?? device.last_counter,
      lastAt: update?.last_counter_at ? new Date(update.last_counter_at) : device.last_counter_at,
    };
    const step = advanceCounter(state, decoded.measurements.pulseCount, time);
    // Same rule as the decoder: the registry's pulsesPerUnit, and no value when it is not usable.
    const perUnit = Number(device.config.pulsesPerUnit ?? 1000);
    const value = perUnit > 0 ? step.total / perUnit : NaN;
    meterValue = Number.isFinite(value) ? value : undefined;
    if (step.state !== state) {
      counterPatch = { counter_offset: step.state.offset, last_counter: step.state.lastCount, last_counter_at: step.state.lastAt ? iso(step.state.lastAt) : null };
    }
    if (step.event) deps.logger.warn('pulse counter discontinuity', { devEui, event: step.event, count: decoded.measurements.pulseCount, offset: step.state.offset });
  }
  w.touchDevice(device, time, { last_f_cnt: event.fCnt, battery_level: num(decoded.measurements.batteryPercent), ...counterPatch });

  if (decoded.modbusResponse) {
    w.feedback.modbusResponses.push({ deviceId: device.id, devEui, meterId: device.meter_id, response: decoded.modbusResponse, time });
  }

  if (decoded.measurements.occupied !== undefined) {
    if (device.space_id) handleOccupancy(w, deps, device, decoded.measurements.occupied, time, sourceKey);
    else w.quarantineMessage({ msg, reasonCode: 'sensor_not_assigned', reason: `sensor ${devEui} is not assigned to a parking space`, devEui, dedupKey: sourceKey });
    return;
  }

  if (hasMeasurements(decoded)) {
    if (!device.meter_id) {
      w.quarantineMessage({ msg, reasonCode: 'device_not_assigned', reason: `device ${devEui} does not serve a meter`, devEui, dedupKey: sourceKey });
      return;
    }
    w.readings.push({
      meter_id: device.meter_id,
      device_id: device.id,
      source_key: event.deduplicationId,
      reading_date: iso(time),
      rssi: signal ? Math.round(signal.rssi) : null,
      snr: signal ? signal.snr : null,
      f_cnt: event.fCnt,
      extra: { frameType: decoded.frameType, fPort: event.fPort, ...decoded.extra, ...(decoded.measurements.alarms?.length ? { alarms: decoded.measurements.alarms } : {}), ...(decoded.measurements.volumeM3 !== undefined ? { volumeM3: decoded.measurements.volumeM3 } : {}), ...(decoded.history?.length ? { historyPoints: decoded.history.length } : {}), ...(decoded.warnings.length ? { warnings: decoded.warnings } : {}) },
      raw_payload: event.object && usesNetworkCodec(device.config) ? JSON.stringify(event.object) : hex(bytes),
      ...(readingFrom(decoded, meterValue) as Omit<ReadingRow, 'meter_id' | 'device_id' | 'source_key' | 'reading_date' | 'rssi' | 'snr' | 'f_cnt' | 'extra' | 'raw_payload'>),
    });
    w.outcomes.set(msg.id, 'reading');
    return;
  }
  // Frames without measurements (device info, power-on, pass-through responses) are device events.
  w.event(msg, {
    device_id: device.id,
    dev_eui: devEui,
    event_type: 'up',
    event_time: iso(time),
    code: decoded.frameType,
    details: { fPort: event.fPort, fCnt: event.fCnt, payload: hex(bytes), ...decoded.extra, ...(decoded.modbusResponse ? { modbusResponse: decoded.modbusResponse } : {}) },
    source_key: sourceKey,
  });
}

function handleOccupancy(w: BatchWriter, deps: IngestDeps, device: IngestDevice, occupied: boolean, time: Date, sourceKey: string) {
  const sensorState = occupied ? 'occupied' : 'free';
  if (device.space_sensor_state === sensorState) return;
  const previous = device.space_state;
  // A reserved or maintained space keeps its displayed state whatever the sensor says.
  const next = previous === 'RESERVED' || previous === 'MAINTENANCE' ? previous : occupied ? 'OCCUPIED' : 'FREE';
  let display: { payloadHex: string; fPort: number; confirmed: boolean } | undefined;
  if (next !== previous && device.display_device_id && device.display_dev_eui) {
    try {
      display = resolveDisplayActuation(device.display_config, next);
    } catch (error) {
      deps.logger.warn('display not actuated', { spaceId: device.space_id, state: next, reason: (error as Error).message });
    }
  }
  w.occupancy.push({
    space_id: device.space_id ?? '',
    device_id: device.id,
    occupied,
    previous_state: previous,
    new_state: next,
    event_time: iso(time),
    source_key: sourceKey,
    display_device_id: display ? device.display_device_id : null,
    display_dev_eui: display ? device.display_dev_eui : null,
    payload_hex: display?.payloadHex ?? null,
    fport: display?.fPort ?? null,
    confirmed: display?.confirmed ?? false,
    expires_at: iso(new Date(time.getTime() + deps.commandExpiryHours * 3_600_000)),
  });
  // Later uplinks of the same sensor in this batch compare against this state.
  device.space_sensor_state = sensorState;
  device.space_state = next;
}

function handleNetworkEvent(w: BatchWriter, msg: InboundMessage, value: Exclude<ChirpstackEvent, { type: 'up' }>, device: IngestDevice | undefined) {
  const e = value.event;
  const devEui = e.deviceInfo.devEui;
  const time = eventTime(msg, e.time);
  const base = { device_id: device?.id ?? null, dev_eui: devEui, event_type: value.type, event_time: iso(time) };
  const digest = messageDigest(msg.topic, msg.payload);
  switch (value.type) {
    case 'status': {
      const s = value.event;
      if (device) w.touchDevice(device, time, { margin: s.margin, battery_level: s.batteryLevelUnavailable || s.externalPowerSource ? null : s.batteryLevel });
      w.event(msg, { ...base, details: { margin: s.margin, batteryLevel: s.batteryLevel, batteryLevelUnavailable: s.batteryLevelUnavailable, externalPowerSource: s.externalPowerSource }, source_key: `status:${s.deduplicationId ?? digest}` });
      return;
    }
    case 'join':
      if (device) w.touchDevice(device, time, { joined_at: iso(time) });
      w.event(msg, { ...base, details: { devAddr: value.event.devAddr ?? null }, source_key: `join:${value.event.deduplicationId ?? digest}` });
      return;
    case 'ack':
      w.feedback.acks.push({ devEui, queueItemId: value.event.queueItemId, acknowledged: value.event.acknowledged, time });
      w.event(msg, { ...base, code: value.event.acknowledged ? 'ACK' : 'NACK', details: { queueItemId: value.event.queueItemId, acknowledged: value.event.acknowledged, fCntDown: value.event.fCntDown }, source_key: `ack:${value.event.queueItemId}` });
      return;
    case 'txack':
      w.feedback.txAcks.push({ devEui, queueItemId: value.event.queueItemId, time });
      w.event(msg, { ...base, details: { queueItemId: value.event.queueItemId, downlinkId: value.event.downlinkId, fCntDown: value.event.fCntDown, gatewayId: value.event.gatewayId ?? null }, source_key: `txack:${value.event.queueItemId}:${value.event.downlinkId}` });
      return;
    case 'log':
      w.event(msg, { ...base, level: value.event.level, code: value.event.code, description: value.event.description, details: value.event.context ?? null, source_key: `log:${digest}` });
      return;
    case 'location':
      w.event(msg, { ...base, details: value.event.location, source_key: `location:${value.event.deduplicationId ?? digest}` });
      return;
    case 'integration':
      w.event(msg, { ...base, code: value.event.eventType, details: { integrationName: value.event.integrationName }, source_key: `integration:${digest}` });
      return;
  }
}

function handleEsp32(w: BatchWriter, msg: InboundMessage, value: Esp32Message, device: IngestDevice | undefined) {
  const time = value.body.timestamp;
  const sourceKey = `esp32:${value.meterNo}:${value.type}:${time.getTime()}`;
  if (!device) {
    w.quarantineMessage({ msg, reasonCode: 'unknown_device', reason: `no ESP32 meter registered with meterNo ${value.meterNo}`, meterNo: value.meterNo, dedupKey: sourceKey });
    return;
  }
  w.touchDevice(device, time);
  switch (value.type) {
    case 'consumption': {
      if (!device.meter_id) {
        w.quarantineMessage({ msg, reasonCode: 'device_not_assigned', reason: `ESP32 ${value.meterNo} does not serve a meter`, meterNo: value.meterNo, dedupKey: sourceKey });
        return;
      }
      // The meter reports units consumed since its last report; the reading is the meter's running
      // total, computed in the database under the meter's row lock (see writeConsumption).
      w.consumption.push({
        meter_id: device.meter_id,
        device_id: device.id,
        source_key: sourceKey,
        units: value.body.unitsConsumed,
        reading_date: iso(time),
        extra: { unitsConsumed: value.body.unitsConsumed, remainingBalance: value.body.remainingBalance ?? null, totalConsumed: value.body.totalConsumed ?? null },
        raw_payload: asBuffer(msg.payload).toString('utf8'),
      });
      w.outcomes.set(msg.id, 'reading');
      return;
    }
    case 'status':
      w.event(msg, { device_id: device.id, dev_eui: null, event_type: 'esp32_status', event_time: iso(time), code: value.body.status, description: value.body.message ?? null, details: { balance: value.body.balance ?? null, wifiRssi: value.body.wifi_rssi ?? null }, source_key: sourceKey });
      return;
    case 'balance':
      w.feedback.balanceReports.push({ meterNo: value.meterNo, deviceId: device.id, meterId: device.meter_id, balance: value.body.balance, time });
      w.event(msg, { device_id: device.id, dev_eui: null, event_type: 'esp32_balance', event_time: iso(time), details: { balance: value.body.balance }, source_key: sourceKey });
      return;
  }
}

export async function ingestBatch(deps: IngestDeps, messages: InboundMessage[]): Promise<IngestResult> {
  const parsed = messages.map(classify);
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
          handleEsp32(w, p.msg, p.value, byMeterNo.get(p.value.meterNo));
        }
      } else if (p.value.type === 'up') {
        if (firstTime(`up:${p.value.event.deduplicationId}`, p.msg)) handleUp(w, deps, p.msg, p.value.event, byEui.get(p.devEui));
      } else handleNetworkEvent(w, p.msg, p.value, byEui.get(p.devEui));
    } catch (error) {
      // A message this code cannot handle must not hold up the rest: keep it, with the reason.
      w.quarantineMessage({ msg: p.msg, reasonCode: 'processing_error', reason: `could not process: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  try {
    let inserted = 0;
    if (w.readings.length || w.deviceUpdates.size) inserted = (await writeReadings(deps.db, w.readings, [...w.deviceUpdates.values()])).inserted;
    if (w.consumption.length) inserted += (await writeConsumption(deps.db, w.consumption)).inserted;
    let newQuarantine: string[] = [];
    if (w.events.length || w.quarantine.size) {
      newQuarantine = (await writeEventsAndQuarantine(deps.db, w.events, [...w.quarantine.values()])).newQuarantine;
    }
    if (w.occupancy.length) {
      const { commandIds } = await writeOccupancy(deps.db, w.occupancy);
      if (commandIds.length) await deps.onCommandsCreated?.(commandIds);
    }
    if (newQuarantine.length) {
      const fresh = new Set(newQuarantine);
      const items = [...w.quarantine.values()].filter((q) => fresh.has(q.dedup_key));
      // One line per batch, naming each device and why: not a stack trace per message.
      deps.logger.warn('ingest: messages quarantined', {
        count: items.length,
        items: items.slice(0, 20).map((q) => ({ device: q.dev_eui ?? q.meter_no ?? q.topic, reason: q.reason_code, detail: q.reason.slice(0, 200) })),
      });
    }
    const f = w.feedback;
    if (deps.onFeedback && (f.acks.length || f.txAcks.length || f.modbusResponses.length || f.balanceReports.length)) await deps.onFeedback(f);
    return {
      received: messages.length,
      readings: inserted,
      events: w.events.length,
      quarantined: w.quarantine.size,
      retry: [],
      outcomes: w.outcomes,
    };
  } catch (error) {
    if (isDataError(error)) return isolateRejected(deps, messages, error);
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
      outcomes: new Map([...a.outcomes, ...b.outcomes]),
    }));
  }
  const w = new BatchWriter();
  const [msg] = messages;
  if (!msg) return { received: 0, readings: 0, events: 0, quarantined: 0, retry: [], outcomes: new Map() };
  const reason = error instanceof Error ? error.message : String(error);
  const devEui = parseChirpstackTopic(msg.topic)?.devEui;
  const meterNo = /^smartmeter\/([^/]+)\//.exec(msg.topic)?.[1];
  w.quarantineMessage({
    msg,
    reasonCode: 'write_rejected',
    reason: `the database refused this message's values: ${reason.slice(0, 500)}`,
    ...(devEui ? { devEui } : {}),
    ...(meterNo ? { meterNo } : {}),
  });
  try {
    await writeEventsAndQuarantine(deps.db, [], [...w.quarantine.values()]);
    deps.logger.warn('ingest: message quarantined, its values were refused by the database', { topic: msg.topic, reason: reason.slice(0, 200) });
    return { received: 1, readings: 0, events: 0, quarantined: 1, retry: [], outcomes: w.outcomes };
  } catch (quarantineError) {
    deps.logger.error('ingest: could not quarantine a refused message; it will be redelivered', { error: quarantineError as Error });
    return { received: 1, readings: 0, events: 0, quarantined: 0, retry: [msg.id], outcomes: new Map() };
  }
}
