// When ChirpStack's device-profile codec has already decoded an uplink (the event's `object`) and the
// device's config says `useNetworkCodec: true`, this maps that object's field names — as the vendor
// codecs emit them — to Measurements, instead of decoding the bytes again.
//
// Field names differ by vendor codec, so the decoder name (devices.decoder) is a hint for the few
// names that mean different things per device:
// - `battery`: percent in Milesight codecs, volts in the TTN Browan TABS codec. With the browan_tabs
//   hint it is volts; without a hint a non-integer below 5 is taken as volts (no Milesight device
//   reports a fractional percent), anything else as percent.
// - `status`: occupancy (0/1) for browan_tabs, the status byte for qalcosonic_w1; ignored otherwise.
// Names not mapped are kept in extra, so nothing the codec said is lost.

import * as z from 'zod';
import { DEFAULT_PULSES_PER_UNIT, pulsesFromConversion } from './em300di.ts';
import { w1StatusAlarms } from './qalcosonic-w1.ts';
import { guarded } from './reader.ts';
import { applyMeterValue, mapChannelValue, readUc100Config } from './uc100.ts';
import { decodeFailed, decoded, type DecodeResult, type HistoryPoint, type Measurements } from './types.ts';

export interface NetworkObjectOptions {
  /** The device's decoder name (devices.decoder), used to read vendor-specific field names. */
  decoder?: string;
  /** The device's registry config (pulsesPerUnit, channels, ...). */
  config?: Readonly<Record<string, unknown>>;
}

export type NetworkObjectDecoder = (object: Readonly<Record<string, unknown>>, options?: NetworkObjectOptions) => DecodeResult;

/** Whether a device's registry config asks to trust ChirpStack's decoded object over our own decoder. */
export const usesNetworkCodec = (config: Readonly<Record<string, unknown>> | undefined): boolean => config?.useNetworkCodec === true;

const objectSchema = z.record(z.string(), z.unknown());

/** A finite number from a number or a numeric string (old Milesight codecs print "1500.60"). */
function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

/** Coil-like values: numbers, booleans and Milesight's 'on'/'off'. */
function channelNumber(value: unknown): number | undefined {
  if (value === 'on' || value === true) return 1;
  if (value === 'off' || value === false) return 0;
  return numberOf(value);
}

function occupancyOf(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 'occupied' || value === '1') return true;
  if (value === 0 || value === 'free' || value === 'vacant' || value === 'unoccupied' || value === '0') return false;
  return undefined;
}

const snake = (text: string): string => text.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_');

const aliases = {
  batteryPercent: ['battery_level', 'batteryLevel', 'battery_percent', 'batteryPercent', 'battery_state'],
  batteryVoltage: ['battery_voltage', 'batteryVoltage', 'battVolt', 'battery_v', 'Battery'],
  temperatureC: ['temperature', 'temperatureBoard', 'temp', 'Temp'],
  humidityPercent: ['humidity', 'relative_humidity'],
  pulseCount: ['pulse', 'counter', 'pulse_count', 'pulseCount'],
  volumeM3: ['current_volume_m3', 'current_volume', 'volume_m3'],
} as const;

interface Mapping {
  measurements: Measurements;
  used: Set<string>;
  warnings: string[];
}

/** Maps one flat object (the top level, or one history entry) onto measurements. */
function mapFields(object: Readonly<Record<string, unknown>>, options: NetworkObjectOptions, uc100Warnings: string[]): Mapping {
  const m: Measurements = {};
  const used = new Set<string>();
  const warnings: string[] = [];
  const take = (key: string): unknown => {
    if (!(key in object)) return undefined;
    used.add(key);
    return object[key];
  };
  const firstNumber = (keys: readonly string[]): number | undefined => {
    for (const key of keys) {
      const value = numberOf(take(key));
      if (value !== undefined) return value;
    }
    return undefined;
  };

  const hint = options.decoder;
  const config = options.config ?? {};

  const batteryPercent = firstNumber(aliases.batteryPercent);
  if (batteryPercent !== undefined) m.batteryPercent = batteryPercent;
  const batteryVoltage = firstNumber(aliases.batteryVoltage);
  if (batteryVoltage !== undefined) m.batteryVoltage = batteryVoltage;
  const battery = numberOf(take('battery'));
  if (battery !== undefined) {
    if (hint === 'browan_tabs' || (hint === undefined && !Number.isInteger(battery) && battery < 5)) m.batteryVoltage = battery;
    else m.batteryPercent = battery;
  }
  const temperature = firstNumber(aliases.temperatureC);
  if (temperature !== undefined) m.temperatureC = temperature;
  const humidity = firstNumber(aliases.humidityPercent);
  if (humidity !== undefined) m.humidityPercent = humidity;

  // Pulse counters: the raw counter, or Milesight's converted water figure (pulses recovered as in em300di.ts).
  const pulsesPerUnitRaw = numberOf(config.pulsesPerUnit);
  const pulsesPerUnit = config.pulsesPerUnit === undefined ? DEFAULT_PULSES_PER_UNIT : pulsesPerUnitRaw !== undefined && pulsesPerUnitRaw > 0 ? pulsesPerUnitRaw : undefined;
  if (config.pulsesPerUnit !== undefined && pulsesPerUnit === undefined) warnings.push('config.pulsesPerUnit is not a positive number; meterValue not computed');
  let pulses = firstNumber(aliases.pulseCount);
  const water = numberOf(take('water'));
  const waterConv = numberOf(take('water_conv'));
  const pulseConv = numberOf(take('pulse_conv') ?? take('pluse_conv'));
  if (pulses === undefined && water !== undefined && waterConv !== undefined && pulseConv !== undefined) {
    const recovered = pulsesFromConversion({ water, waterConv, pulseConv });
    if (recovered.pulses !== undefined) pulses = recovered.pulses;
    else warnings.push(`pulse count not derived: ${recovered.problem ?? 'unknown reason'}`);
  }
  if (pulses !== undefined) {
    m.pulseCount = pulses;
    const value = pulsesPerUnit !== undefined ? pulses / pulsesPerUnit : undefined;
    // A tiny pulsesPerUnit can overflow to Infinity: no meterValue rather than a non-number.
    if (value !== undefined && Number.isFinite(value)) m.meterValue = value;
  }

  const volume = firstNumber(aliases.volumeM3);
  if (volume !== undefined) {
    m.volumeM3 = volume;
    m.meterValue ??= volume;
  }

  const alarms: string[] = [];
  if (hint === 'browan_tabs') {
    const occupied = occupancyOf(take('status') ?? take('Status'));
    if (occupied !== undefined) m.occupied = occupied;
  }
  const occupied = occupancyOf(take('occupied') ?? take('occupancy'));
  if (occupied !== undefined) m.occupied = occupied;
  if (hint === 'qalcosonic_w1') {
    const status = numberOf(take('status') ?? take('status_code'));
    if (status !== undefined && Number.isInteger(status) && status >= 0 && status <= 0xff) alarms.push(...w1StatusAlarms(status));
    const time = numberOf(take('timestamp_unix') ?? take('timestamp'));
    if (time !== undefined) m.deviceTime = new Date(time * 1000);
  }

  // UC100 Modbus channels, named modbus_chn_N by Milesight's codecs, mapped by config.channels.
  const uc100 = readUc100Config(config, uc100Warnings);
  for (const key of Object.keys(object)) {
    const channel = /^modbus_chn_(\d+(?:_reg_\d+)?)$/.exec(key)?.[1];
    const alarm = /^modbus_chn_(\d+)_alarm$/.exec(key)?.[1];
    if (channel !== undefined) {
      const value = channelNumber(object[key]);
      if (value !== undefined && mapChannelValue(channel, value, uc100.channels, m, warnings)) used.add(key);
    } else if (alarm !== undefined && typeof object[key] === 'string') {
      used.add(key);
      const name = snake(object[key]);
      if (name !== 'normal') alarms.push(`channel_${alarm}_${name === 'mutation_alarm' ? 'change_alarm' : name}`);
    }
  }
  if (hint === 'milesight_uc100') applyMeterValue(m, uc100.meterValueField);

  // EM300-DI alarm texts, named as em300di.ts names them ("water outage timeout alarm release" → water_outage_timeout_release).
  const waterAlarm = take('water_alarm');
  if (typeof waterAlarm === 'string') alarms.push(snake(waterAlarm).replace('_alarm', ''));
  const gpioAlarm = take('gpio_alarm');
  if (typeof gpioAlarm === 'string') alarms.push(snake(gpioAlarm));
  if (alarms.length > 0) m.alarms = alarms;
  return { measurements: m, used, warnings };
}

export const decodeNetworkObject: NetworkObjectDecoder = (object, options = {}) =>
  guarded(() => {
    const parsed = objectSchema.safeParse(object);
    if (!parsed.success) return decodeFailed('invalid_frame', 'the network codec object is not a JSON object');
    const fields = parsed.data;
    if (Object.keys(fields).length === 0) return decodeFailed('empty_payload', 'the network codec object is empty');

    const uc100Warnings: string[] = [];
    const top = mapFields(fields, options, uc100Warnings);
    const warnings = [...new Set(uc100Warnings)];
    warnings.push(...top.warnings);

    // Milesight codecs put stored records in `history`: [{ timestamp, ...same names }].
    const history: HistoryPoint[] = [];
    const rawHistory = fields.history;
    if (Array.isArray(rawHistory)) {
      top.used.add('history');
      for (const entry of rawHistory) {
        const record = objectSchema.safeParse(entry);
        const time = record.success ? numberOf(record.data.timestamp) : undefined;
        if (!record.success || time === undefined) {
          warnings.push('history entry without a numeric timestamp skipped');
          continue;
        }
        const point = mapFields(record.data, options, []);
        point.used.add('timestamp');
        const extra = Object.fromEntries(Object.entries(record.data).filter(([key]) => !point.used.has(key)));
        history.push({ time: new Date(time * 1000), measurements: point.measurements, ...(Object.keys(extra).length > 0 ? { extra } : {}) });
      }
    }

    const extra = Object.fromEntries(Object.entries(fields).filter(([key]) => !top.used.has(key)));
    if (Object.keys(top.measurements).length === 0 && history.length === 0) warnings.push('no field of the network codec object maps to a measurement');
    return decoded({
      measurements: top.measurements,
      frameType: 'network_codec',
      extra,
      warnings,
      ...(history.length > 0 ? { history: history.sort((a, b) => a.time.getTime() - b.time.getTime()) } : {}),
    });
  });
