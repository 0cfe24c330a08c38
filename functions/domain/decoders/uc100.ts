// Milesight UC100 Modbus RS485 controller, here bridging an Eastron SDM320C/SDM630. Two kinds of uplink:
//
// 1. Channel frames on the application port (85): the UC100 polls up to 32 configured "Modbus channels"
//    (slave id, register address, data type, byte order) and reports each value, already assembled by
//    the device in the configured byte order and sent little-endian (Eastron floats: configure the
//    channel as Float ABCD; the uplink carries the float LE). What a channel *means* is configuration,
//    not code: `config.channels` maps the 1-based channel number (Milesight's modbus_chn_N) to a
//    measurement, with an optional scale, e.g. { "1": "voltageV", "4": { "field": "energyImportKwh", "scale": 0.001 } }.
//    Unmapped channels are kept in extra.channels. meterValue follows `config.meterValueField`
//    (default energyImportKwh).
//    Protocol v1 (guide V1.2–1.3, decoder uc100-decoder.js): 0xFF 0x19 value, 0xFF 0x15 read error,
//    0xFF 0xEE alarm, 0xF9 0x5F change, 0x20 0xCE / 0x20 0xCD history; v2 (uc100-v2-decoder.js):
//    0xF9 0x73 value, 0xF9 0x74 change, 0x21 0xCE / 0x21 0xCD history. Device info 0xFF 0x01/09/0A/0B/0F/16/FE/FF.
//
// 2. Pass-through ("Modbus RS485 Bridge LoRaWAN", active mode): a downlink on the bridge port is written
//    as-is to the RS485 bus and whatever the meter answers is uplinked, as-is, on that same port. The
//    port is a device setting (Milesight allows 2–84 and 86–223; their examples use 52 and 200, the v2
//    encoder's F9 79 command sets it), so it is `config.passThroughFPort`, default 5 as on the seed's
//    UC100. Such an uplink is a raw Modbus RTU response: see modbus-response.ts. In two-way mode the
//    RS485 device may also send unsolicited bytes there; those that are not a Modbus response are refused.

import * as z from 'zod';
import { formatIssues } from '../issues.ts';
import {
  attributeChannels,
  channelKey,
  downlinkResponseChannels,
  finishFrame,
  MILESIGHT_FPORT,
  milesightPortSchema,
  walkMilesightFrame,
  type ChannelHandler,
  type MilesightFrame,
} from './milesight.ts';
import { modbusExceptionNames, parseModbusResponse } from './modbus-response.ts';
import {
  ascii,
  byteAt,
  f32le,
  f64le,
  float32Value,
  guarded,
  hex2,
  i16le,
  i32le,
  i64le,
  numericMeasurementFields,
  u16le,
  u32le,
  u64le,
  unixTime,
  type NumericMeasurementField,
} from './reader.ts';
import { decodeFailed, decoded, type DecodeResult, type Decoder, type Measurements } from './types.ts';

export const DEFAULT_PASS_THROUGH_FPORT = 5;
export const DEFAULT_METER_VALUE_FIELD: NumericMeasurementField = 'energyImportKwh';

// ---------------------------------------------------------------------------------------------------
// Configuration: read field by field so one bad entry does not discard the rest.

const fieldSchema = z.enum(numericMeasurementFields);
export const channelTargetSchema = z.union([
  fieldSchema,
  z.object({ field: fieldSchema, scale: z.number().finite().optional() }).strict(),
]);
export const channelMapSchema = z.record(z.string().regex(/^\d+(_reg_\d+)?$/, 'channel keys are 1-based numbers, e.g. "1" or "1_reg_2"'), channelTargetSchema);
export type ChannelMap = z.infer<typeof channelMapSchema>;
const passThroughPortSchema = z
  .number()
  .int()
  .min(1)
  .max(223)
  .refine((port) => port !== MILESIGHT_FPORT, 'fPort 85 is the application port; a pass-through port must differ');

export interface Uc100Config {
  channels: ChannelMap;
  passThroughFPort: number;
  fPort: number;
  meterValueField: NumericMeasurementField;
}

function field<T>(raw: Readonly<Record<string, unknown>>, key: string, schema: z.ZodType<T>, fallback: T, warnings: string[]): T {
  if (raw[key] === undefined) return fallback;
  const parsed = schema.safeParse(raw[key]);
  if (parsed.success) return parsed.data;
  warnings.push(`config.${key} ignored: ${formatIssues(parsed.error, key)}`);
  return fallback;
}

export function readUc100Config(raw: Readonly<Record<string, unknown>> | undefined, warnings: string[]): Uc100Config {
  const config = raw ?? {};
  return {
    channels: field(config, 'channels', channelMapSchema, {}, warnings),
    passThroughFPort: field(config, 'passThroughFPort', passThroughPortSchema, DEFAULT_PASS_THROUGH_FPORT, warnings),
    fPort: field(config, 'fPort', milesightPortSchema, MILESIGHT_FPORT, warnings),
    meterValueField: field(config, 'meterValueField', fieldSchema, DEFAULT_METER_VALUE_FIELD, warnings),
  };
}

/**
 * Puts a channel's raw value where the configuration says, scaled; returns whether it was mapped.
 * Shared with the ChirpStack-object mapper, which sees the same channels as modbus_chn_N.
 */
export function mapChannelValue(key: string, value: number, channels: ChannelMap, target: Measurements, warnings: string[]): boolean {
  const mapping = channels[key];
  if (mapping === undefined) return false;
  const { field: name, scale } = typeof mapping === 'string' ? { field: mapping, scale: undefined } : mapping;
  // toPrecision(12) drops binary noise from the scaling (2307 × 0.1) without losing real digits.
  const scaled = scale === undefined ? value : Number((value * scale).toPrecision(12));
  if (!Number.isFinite(scaled)) {
    warnings.push(`channel ${key} value is not finite after scaling; ${name} not set`);
    return false;
  }
  target[name] = scaled;
  return true;
}

export function applyMeterValue(target: Measurements, meterValueField: NumericMeasurementField): void {
  const value = target[meterValueField];
  if (target.meterValue === undefined && value !== undefined) target.meterValue = value;
}

// ---------------------------------------------------------------------------------------------------
// Channel values.

type ValueKind = 'bit' | 'int16' | 'int32' | 'int16of32' | 'float32' | 'int64' | 'float64';
interface ValueType {
  name: string;
  kind: ValueKind;
  /** Bytes the value takes in the frame. */
  size: number;
}

/** Data types of the 0xFF 0x19 / 0xFF 0xEE / 0xF9 0x73 channels (UC100 guide 5.2; 12–15 from the v2 decoder). */
const channelValueTypes: Readonly<Record<number, ValueType>> = {
  0: { name: 'coil', kind: 'bit', size: 1 },
  1: { name: 'discrete', kind: 'bit', size: 1 },
  2: { name: 'input16', kind: 'int16', size: 2 },
  3: { name: 'hold16', kind: 'int16', size: 2 },
  4: { name: 'hold32', kind: 'int32', size: 4 },
  5: { name: 'hold_float', kind: 'float32', size: 4 },
  6: { name: 'input32', kind: 'int32', size: 4 },
  7: { name: 'input_float', kind: 'float32', size: 4 },
  8: { name: 'input_int32_upper16', kind: 'int16of32', size: 4 },
  9: { name: 'input_int32_lower16', kind: 'int16of32', size: 4 },
  10: { name: 'hold_int32_upper16', kind: 'int16of32', size: 4 },
  11: { name: 'hold_int32_lower16', kind: 'int16of32', size: 4 },
  12: { name: 'input_int64', kind: 'int64', size: 8 },
  13: { name: 'input_double', kind: 'float64', size: 8 },
  14: { name: 'hold_int64', kind: 'int64', size: 8 },
  15: { name: 'hold_double', kind: 'float64', size: 8 },
};

/** Register types of the history records (MB_REG_* in Milesight's README; the value field is 4 or 8 bytes). */
function historyValueKind(registerType: number): ValueKind | undefined {
  if (registerType <= 1) return 'bit';
  if ([2, 3, 14, 15].includes(registerType)) return 'int16';
  if ((registerType >= 4 && registerType <= 7) || (registerType >= 16 && registerType <= 19)) return 'int32';
  if ([8, 9, 20, 21].includes(registerType)) return 'int16of32';
  if ((registerType >= 10 && registerType <= 13) || (registerType >= 22 && registerType <= 25)) return 'float32';
  if ((registerType >= 26 && registerType <= 29) || (registerType >= 34 && registerType <= 37)) return 'float64';
  if ((registerType >= 30 && registerType <= 33) || (registerType >= 38 && registerType <= 41)) return 'int64';
  return undefined;
}

/** A channel value as a number (coils 0/1), or a reason it has none. */
function readValue(kind: ValueKind, bytes: Uint8Array, at: number, signed: boolean): number | string {
  switch (kind) {
    case 'bit':
      return byteAt(bytes, at) === 0 ? 0 : 1;
    case 'int16':
    case 'int16of32':
      return signed ? i16le(bytes, at) : u16le(bytes, at);
    case 'int32':
      return signed ? i32le(bytes, at) : u32le(bytes, at);
    case 'float32': {
      const raw = f32le(bytes, at);
      return Number.isFinite(raw) ? float32Value(raw) : 'float32 value is NaN or infinite';
    }
    case 'float64': {
      const raw = f64le(bytes, at);
      return Number.isFinite(raw) ? raw : 'float64 value is NaN or infinite';
    }
    case 'int64': {
      const big = signed ? i64le(bytes, at) : u64le(bytes, at);
      const value = Number(big);
      return Number.isSafeInteger(value) ? value : `int64 value ${big.toString()} exceeds the safe integer range`;
    }
  }
}

const alarmTypeNames: Readonly<Record<number, string>> = { 1: 'threshold_alarm', 2: 'threshold_alarm_release', 3: 'change_alarm' };

// ---------------------------------------------------------------------------------------------------
// The channel table for one uplink (it closes over the device's channel map).

function uc100Channels(config: Uc100Config): Map<number, ChannelHandler> {
  // Raw channel values of this uplink, by 1-based channel key, for extra.channels.
  const current: Record<string, number> = {};
  const historical = new Map<number, Record<string, number>>();

  const setCurrent = (f: MilesightFrame, key: string, value: number | string): void => {
    if (typeof value === 'string') {
      f.warnings.push(`channel ${key}: ${value}`);
      return;
    }
    current[key] = value;
    f.extra.channels = current;
    mapChannelValue(key, value, config.channels, f.measurements, f.warnings);
  };

  const setHistory = (f: MilesightFrame, time: Date, key: string, value: number | string | undefined, alarm?: string): void => {
    // Records of several channels at one poll share a timestamp: merge them into one point.
    let point = f.history.find((p) => p.time.getTime() === time.getTime());
    if (!point) {
      point = { time, measurements: {}, extra: {} };
      f.history.push(point);
    }
    if (typeof value === 'number') {
      const channels = historical.get(time.getTime()) ?? {};
      historical.set(time.getTime(), channels);
      channels[key] = value;
      point.extra = { ...point.extra, channels };
      mapChannelValue(key, value, config.channels, point.measurements, f.warnings);
    } else if (typeof value === 'string') {
      f.warnings.push(`history channel ${key}: ${value}`);
    }
    if (alarm) point.measurements.alarms = [...(point.measurements.alarms ?? []), `channel_${key}_${alarm}`];
    f.kinds.add('history');
  };

  /** Size of a value channel whose data-type byte sits at `typeAt`; unknown types fall back to the data-size byte. */
  const valueChannelSize =
    (header: number, typeAt: number, typeMask: number, sizeAt?: number) =>
    (b: Uint8Array, at: number): number | string | undefined => {
      if (at + typeAt >= b.length) return undefined;
      const type = channelValueTypes[byteAt(b, at + typeAt) & typeMask];
      if (type) return header + type.size;
      if (sizeAt !== undefined) return header + byteAt(b, at + sizeAt);
      return `unknown Modbus data type ${byteAt(b, at + typeAt) & typeMask}`;
    };

  const channels = new Map<number, ChannelHandler>([
    ...downlinkResponseChannels({
      0x03: 2, 0x04: 1, 0x10: 1, 0x27: 1, 0x28: 1, 0x4a: 1, 0x68: 1, 0x69: 1, 0x6a: 3, 0xbd: 2,
      // Modbus channel add/remove/rename echo: sub-command 0 → 4 bytes, 1 → 7, 2 → 3 + name length.
      0xef: (b, at) => {
        if (at + 2 >= b.length) return undefined;
        const sub = byteAt(b, at);
        return sub === 0 ? 4 : sub === 1 ? 7 : sub === 2 ? 3 + byteAt(b, at + 2) : `unknown 0xEF sub-command ${sub}`;
      },
    }),
    ...attributeChannels,
  ]);

  // v1 channel value: channel(1, 0-based) data_size(1) data_def(1: sign bit 7, type bits 0–6) value.
  channels.set(channelKey(0xff, 0x19), {
    size: valueChannelSize(3, 2, 0x7f, 1),
    read: (b, at, f) => {
      const key = String(byteAt(b, at) + 1);
      const type = channelValueTypes[byteAt(b, at + 2) & 0x7f];
      setCurrent(f, key, type ? readValue(type.kind, b, at + 3, (byteAt(b, at + 2) & 0x80) !== 0) : `unknown data type ${byteAt(b, at + 2) & 0x7f}`);
      f.kinds.add('telemetry');
    },
  });
  // v1 read failure: channel(1).
  channels.set(channelKey(0xff, 0x15), {
    size: 1,
    read: (b, at, f) => {
      f.alarms.push(`channel_${byteAt(b, at) + 1}_read_error`);
      f.kinds.add('alarm');
    },
  });
  // v1 alarm: chn_def(1: alarm type bits 6–7, channel bits 0–5) data_size(1) data_def(1) value.
  channels.set(channelKey(0xff, 0xee), {
    size: valueChannelSize(3, 2, 0x7f, 1),
    read: (b, at, f) => {
      const chnDef = byteAt(b, at);
      const key = String((chnDef & 0x3f) + 1);
      const type = channelValueTypes[byteAt(b, at + 2) & 0x7f];
      setCurrent(f, key, type ? readValue(type.kind, b, at + 3, (byteAt(b, at + 2) & 0x80) !== 0) : `unknown data type ${byteAt(b, at + 2) & 0x7f}`);
      const alarm = chnDef >> 6;
      if (alarm !== 0) f.alarms.push(`channel_${key}_${alarmTypeNames[alarm] ?? 'alarm'}`);
      f.kinds.add('alarm');
    },
  });
  // v1.9 change report: chn_def(1) 2 bytes (undocumented) change(float32).
  channels.set(channelKey(0xf9, 0x5f), {
    size: 7,
    read: (b, at, f) => {
      const chnDef = byteAt(b, at);
      const key = String((chnDef & 0x3f) + 1);
      if (chnDef >> 6 === 3) {
        f.alarms.push(`channel_${key}_change_alarm`);
        const change = f32le(b, at + 3);
        if (Number.isFinite(change)) f.extra[`channel_${key}_change`] = float32Value(change);
      }
      f.kinds.add('alarm');
    },
  });
  // v2 channel value: value_1(alarm bits 6–7, channel bits 0–5) value_2(sign bit 7, register offset bits 5–6, type bits 0–4) value.
  channels.set(channelKey(0xf9, 0x73), {
    size: valueChannelSize(2, 1, 0x1f),
    read: (b, at, f) => {
      const v1 = byteAt(b, at);
      const v2 = byteAt(b, at + 1);
      const offset = (v2 >> 5) & 0x03;
      const key = offset === 0 ? String((v1 & 0x3f) + 1) : `${(v1 & 0x3f) + 1}_reg_${offset + 1}`;
      const type = channelValueTypes[v2 & 0x1f];
      setCurrent(f, key, type ? readValue(type.kind, b, at + 2, (v2 & 0x80) !== 0) : `unknown data type ${v2 & 0x1f}`);
      const alarm = v1 >> 6;
      if (alarm !== 0) {
        f.alarms.push(`channel_${key}_${alarmTypeNames[alarm] ?? 'alarm'}`);
        f.kinds.add('alarm');
      } else {
        f.kinds.add('telemetry');
      }
    },
  });
  // v2 change report: chn_def(register offset bits 6–7, channel bits 0–5) change(float64).
  channels.set(channelKey(0xf9, 0x74), {
    size: 9,
    read: (b, at, f) => {
      const chnDef = byteAt(b, at);
      const offset = chnDef >> 6;
      const key = offset === 0 ? String((chnDef & 0x3f) + 1) : `${(chnDef & 0x3f) + 1}_reg_${offset + 1}`;
      const change = f64le(b, at + 1);
      if (Number.isFinite(change)) f.extra[`channel_${key}_change`] = change;
      f.kinds.add('alarm');
    },
  });
  // v1 history: timestamp(4) channel(1) data_def(1: sign bit 7, register type bits 2–6, read ok bit 1) value(4).
  channels.set(channelKey(0x20, 0xce), {
    size: 10,
    read: (b, at, f) => {
      const time = unixTime(u32le(b, at));
      const key = String(byteAt(b, at + 4) + 1);
      const def = byteAt(b, at + 5);
      if (((def >> 1) & 1) === 0) {
        setHistory(f, time, key, undefined, 'read_error');
        return;
      }
      const kind = historyValueKind((def >> 2) & 0x1f);
      if (kind === undefined || kind === 'int64' || kind === 'float64') {
        setHistory(f, time, key, `register type ${(def >> 2) & 0x1f} does not fit a 4-byte history value`);
        return;
      }
      setHistory(f, time, key, readValue(kind, b, at + 6, (def & 0x80) !== 0));
    },
  });
  // v2 history: timestamp(4) channel(1) data_def(2 LE: sign 15, register type 9–14, read ok 8, register count 6–7, alarm 4–5) value(8) value2(8).
  channels.set(channelKey(0x21, 0xce), {
    size: 23,
    read: (b, at, f) => {
      const time = unixTime(u32le(b, at));
      const key = String(byteAt(b, at + 4) + 1);
      const def = u16le(b, at + 5);
      if (((def >> 8) & 1) === 0) {
        setHistory(f, time, key, undefined, 'read_error');
        return;
      }
      const signed = (def & 0x8000) !== 0;
      const kind = historyValueKind((def >> 9) & 0x3f);
      const alarm = alarmTypeNames[(def >> 4) & 0x03];
      if (kind === undefined) {
        setHistory(f, time, key, `unknown register type ${(def >> 9) & 0x3f}`, alarm);
        return;
      }
      setHistory(f, time, key, readValue(kind, b, at + 7, signed), alarm);
      if (((def >> 6) & 0x03) === 2) setHistory(f, time, `${key}_reg_2`, readValue(kind, b, at + 15, signed));
    },
  });
  // Custom-message history (v1 0x20, v2 0x21): timestamp(4) length(1) ASCII.
  for (const id of [0x20, 0x21]) {
    channels.set(channelKey(id, 0xcd), {
      size: (b, at) => (at + 4 < b.length ? 5 + byteAt(b, at + 4) : undefined),
      read: (b, at, f) => {
        const messages = Array.isArray(f.extra.customMessageHistory) ? f.extra.customMessageHistory : [];
        messages.push({ time: unixTime(u32le(b, at)).toISOString(), message: ascii(b, at + 5, at + 5 + byteAt(b, at + 4)) });
        f.extra.customMessageHistory = messages;
        f.kinds.add('history');
      },
    });
  }
  // Reply to a history enquiry (guide p.30: FC 6C 00 = enquiry accepted).
  channels.set(channelKey(0xfc, 0x6c), {
    size: 1,
    read: (b, at, f) => {
      f.extra.historyEnquiryResult = byteAt(b, at);
      f.kinds.add('downlink_response');
    },
  });
  // v2 Modbus settings report (0xF9 0x79; 0xF8 adds a result byte): it names the pass-through port.
  for (const id of [0xf8, 0xf9]) {
    channels.set(channelKey(id, 0x79), {
      size: id === 0xf8 ? 8 : 7,
      read: (b, at, f) => {
        const flags = byteAt(b, at + 5);
        const reported = {
          execIntervalMs: u16le(b, at),
          maxResponseTimeMs: u16le(b, at + 2),
          retryTimes: byteAt(b, at + 4),
          passThroughEnabled: ((flags >> 4) & 1) === 1,
          passThroughDirection: (flags & 1) === 1 ? 'bidirectional' : 'active',
          passThroughPort: byteAt(b, at + 6),
        };
        f.extra.modbusConfig = reported;
        if (reported.passThroughEnabled && reported.passThroughPort !== config.passThroughFPort) {
          f.warnings.push(`device reports pass-through on fPort ${reported.passThroughPort} but config.passThroughFPort is ${config.passThroughFPort}`);
        }
        if (id === 0xf8 && byteAt(b, at + 7) !== 0) f.warnings.push(`device refused the Modbus settings (result ${byteAt(b, at + 7)})`);
        f.kinds.add('downlink_response');
      },
    });
  }
  return channels;
}

// ---------------------------------------------------------------------------------------------------

function passThroughResult(bytes: Uint8Array, warnings: string[]): DecodeResult {
  const parsed = parseModbusResponse(bytes);
  if (!parsed.ok) return decodeFailed(parsed.code, parsed.message);
  const { frame, registers, bits, coilsWritten } = parsed.value;
  const extra: Record<string, unknown> = {};
  if (registers) extra.registers = registers;
  if (bits) extra.bits = bits;
  if (coilsWritten) extra.coilsWritten = coilsWritten;
  if (frame.exceptionCode !== undefined) {
    extra.exception = modbusExceptionNames[frame.exceptionCode] ?? `exception_${hex2(frame.exceptionCode)}`;
  }
  return decoded({
    measurements: {},
    modbusResponse: frame,
    frameType: frame.exceptionCode !== undefined ? 'modbus_exception' : 'modbus_response',
    extra,
    warnings: [...warnings, ...parsed.value.warnings],
  });
}

export const uc100: Decoder = (input) =>
  guarded(() => {
    const warnings: string[] = [];
    const config = readUc100Config(input.config, warnings);
    if (input.bytes.length === 0) return decodeFailed('empty_payload', 'UC100 uplink has no bytes');

    if (input.fPort === config.passThroughFPort) return passThroughResult(input.bytes, warnings);
    if (input.fPort !== config.fPort) {
      return decodeFailed('unsupported_fport', `UC100 sends channel data on fPort ${config.fPort} and pass-through on ${config.passThroughFPort}, got ${input.fPort}`);
    }

    const walked = walkMilesightFrame(input.bytes, { channels: uc100Channels(config), customMessages: true });
    if (!walked.ok) return walked.result;
    const frame = walked.frame;
    frame.warnings.unshift(...warnings);
    applyMeterValue(frame.measurements, config.meterValueField);
    for (const point of frame.history) applyMeterValue(point.measurements, config.meterValueField);
    return finishFrame(frame);
  });
