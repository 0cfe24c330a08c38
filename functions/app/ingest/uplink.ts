// The uplink path: a ChirpStack `up` event from a registered device is decoded with the device's codec
// and becomes a reading (a meter's measurements), an occupancy change (a parking sensor) or a device event
// (frames without measurements), with the device's last-seen state and any Modbus response for the
// command system. What cannot be decoded or placed is quarantined with its reason.
import { bestSignal, type UpEvent } from '#domain/chirpstack/events';
import type { ClockCorrection } from '#domain/clock';
import { pulsesPerUnitOf } from '#domain/counter';
import { decodeNetworkObject, decodeUplink, usesNetworkCodec, type DecodedUplink } from '#domain/decoders/index';
import { resolveDisplayActuation } from '#domain/display';
import { displayedState, sensorStateOf } from '#domain/parking';
import type { Logger } from '#shared/logger';
import type { IngestDevice } from '#store/ingest/devices';
import type { ReadingRow } from '#store/ingest/readings';
import { eventTime, iso, num, type BatchWriter } from './batch-writer.ts';
import type { InboundMessage } from './inbound.ts';

export interface UplinkDeps {
  logger: Logger;
  /** How long a display command created here may wait for its device. */
  commandExpiryHours: number;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

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

/** A reading's `extra`: the decoder's extra fields and warnings, and a clock correction with its warning. */
export function readingExtra(base: Record<string, unknown>, warnings: readonly string[], clock: ClockCorrection | undefined): Record<string, unknown> {
  const all = clock ? [...warnings, clock.warning] : warnings;
  return { ...base, ...(all.length ? { warnings: all } : {}), ...(clock ? { clock: { reportedTime: clock.reportedTime, correctedTo: clock.correctedTo } } : {}) };
}

export function handleUp(w: BatchWriter, deps: UplinkDeps, msg: InboundMessage, event: UpEvent, device: IngestDevice | undefined, clock?: ClockCorrection) {
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

  // Pulse counters: the metered value is offset + count over pulsesPerUnit, with the device's offset at this
  // uplink's place in its series. The store computes it under the device's row lock, in the device's
  // order whatever the order of arrival (writeReadings); here the reading only says it is a counter.
  const isCounter = decoded.measurements.pulseCount !== undefined;
  const meterValue = isCounter ? undefined : decoded.measurements.meterValue;
  w.touchDevice(device, time, { last_f_cnt: event.fCnt, battery_level: num(decoded.measurements.batteryPercent) });

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
      extra: readingExtra({ frameType: decoded.frameType, fPort: event.fPort, ...decoded.extra, ...(decoded.measurements.alarms?.length ? { alarms: decoded.measurements.alarms } : {}), ...(decoded.measurements.volumeM3 !== undefined ? { volumeM3: decoded.measurements.volumeM3 } : {}), ...(decoded.history?.length ? { historyPoints: decoded.history.length } : {}) }, decoded.warnings, clock),
      raw_payload: event.object && usesNetworkCodec(device.config) ? JSON.stringify(event.object) : hex(bytes),
      ...(readingFrom(decoded, meterValue) as Omit<ReadingRow, 'meter_id' | 'device_id' | 'source_key' | 'reading_date' | 'rssi' | 'snr' | 'f_cnt' | 'extra' | 'raw_payload' | 'counter' | 'pulses_per_unit'>),
      counter: isCounter,
      pulses_per_unit: isCounter ? (pulsesPerUnitOf(device.config.pulsesPerUnit) ?? null) : null,
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

function handleOccupancy(w: BatchWriter, deps: UplinkDeps, device: IngestDevice, occupied: boolean, time: Date, sourceKey: string) {
  const sensorState = sensorStateOf(occupied);
  if (device.space_sensor_state === sensorState) return;
  const previous = device.space_state;
  const next = displayedState(previous, occupied);
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
