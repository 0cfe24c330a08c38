// Byte-level helpers shared by the payload decoders. Callers check lengths before reading (each decoder
// knows its frame layout), so these read without bounds errors: a byte past the end reads as 0.

import { DecodeError, type DecodeResult, type Measurements } from './types.ts';

export const byteAt = (bytes: Uint8Array, index: number): number => bytes[index] ?? 0;

export const u16le = (bytes: Uint8Array, at: number): number => byteAt(bytes, at) | (byteAt(bytes, at + 1) << 8);
export const u16be = (bytes: Uint8Array, at: number): number => (byteAt(bytes, at) << 8) | byteAt(bytes, at + 1);
export const i16le = (bytes: Uint8Array, at: number): number => {
  const value = u16le(bytes, at);
  return value > 0x7fff ? value - 0x10000 : value;
};
export const u24le = (bytes: Uint8Array, at: number): number => u16le(bytes, at) + byteAt(bytes, at + 2) * 0x10000;
export const u32le = (bytes: Uint8Array, at: number): number => u16le(bytes, at) + u16le(bytes, at + 2) * 0x10000;
export const i32le = (bytes: Uint8Array, at: number): number => {
  const value = u32le(bytes, at);
  return value > 0x7fffffff ? value - 0x100000000 : value;
};

function view(bytes: Uint8Array, at: number, size: number): DataView {
  const copy = new Uint8Array(size);
  for (let i = 0; i < size; i++) copy[i] = byteAt(bytes, at + i);
  return new DataView(copy.buffer);
}

/** IEEE 754 single precision, little-endian, as the raw double it encodes (may be NaN or ±Infinity). */
export const f32le = (bytes: Uint8Array, at: number): number => view(bytes, at, 4).getFloat32(0, true);
/** IEEE 754 single precision, big-endian (Modbus register order, high word first). */
export const f32be = (bytes: Uint8Array, at: number): number => view(bytes, at, 4).getFloat32(0, false);
export const f64le = (bytes: Uint8Array, at: number): number => view(bytes, at, 8).getFloat64(0, true);
export const i64le = (bytes: Uint8Array, at: number): bigint => view(bytes, at, 8).getBigInt64(0, true);
export const u64le = (bytes: Uint8Array, at: number): bigint => view(bytes, at, 8).getBigUint64(0, true);

/**
 * A float32 carries about 7 significant decimal digits; reading it as a double shows noise past them
 * (0x44BB9333 is 1500.5999755859375). Rounding to 7 significant digits gives back the value the device
 * meant (1500.6). Non-finite values pass through for the caller to reject.
 */
export const float32Value = (raw: number): number => (Number.isFinite(raw) ? Number(raw.toPrecision(7)) : raw);

export const toHex = (bytes: Uint8Array, from = 0, to = bytes.length): string => {
  let hex = '';
  for (let i = from; i < to && i < bytes.length; i++) hex += byteAt(bytes, i).toString(16).padStart(2, '0');
  return hex;
};

export const hex2 = (value: number): string => `0x${value.toString(16).padStart(2, '0')}`;

export const unixTime = (seconds: number): Date => new Date(seconds * 1000);

/** True when every byte is printable ASCII (or CR/LF/TAB): how a UC100 custom message looks. */
export const isPrintableAscii = (bytes: Uint8Array, from: number): boolean => {
  if (from >= bytes.length) return false;
  for (let i = from; i < bytes.length; i++) {
    const b = byteAt(bytes, i);
    if (!((b >= 0x20 && b <= 0x7e) || b === 0x0a || b === 0x0d || b === 0x09)) return false;
  }
  return true;
};

export const ascii = (bytes: Uint8Array, from: number, to: number): string => {
  let text = '';
  for (let i = from; i < to && i < bytes.length; i++) text += String.fromCharCode(byteAt(bytes, i));
  return text;
};

/** The numeric Measurements a configuration may map a raw value onto. */
export const numericMeasurementFields = [
  'batteryPercent',
  'batteryVoltage',
  'temperatureC',
  'humidityPercent',
  'pulseCount',
  'meterValue',
  'volumeM3',
  'voltageV',
  'currentA',
  'powerW',
  'energyImportKwh',
  'energyExportKwh',
  'frequencyHz',
  'powerFactor',
] as const satisfies readonly (keyof Measurements)[];
export type NumericMeasurementField = (typeof numericMeasurementFields)[number];

/**
 * Runs a decoder body and turns any unexpected exception into a typed error, so a decoder bug on a
 * strange frame becomes a quarantined uplink rather than a crashed batch.
 */
export function guarded(body: () => DecodeResult): DecodeResult {
  try {
    return body();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, error: new DecodeError('invalid_frame', `decoder failed on this frame: ${reason}`) };
  }
}
