// Axioma Qalcosonic W1 ultrasonic water meter. fPort 100: volume frames (current volume, meter time,
// status, logged hourly volumes); fPort 101: configuration (kept as hex); fPort 103: alarms.
// Volumes travel in litres; they are reported in m3 (volumeM3, and meterValue for billing).
//
// fPort 100 layouts (all little-endian):
// - extended (W1 "Lora Payload (Long) Extended" V01.7):
//     now(4) status(1) currentVolume(4) logTime(4) logVolume(4) then up to 15 hourly deltas(2) — 47 bytes;
// - extended with temperature (diwise "w1t", real meters 2020–2025):
//     now(4) status(1) currentVolume(4) temperature(2, 0.01 °C) logTime(4) logVolume(4) then 14 deltas(2) — also 47 bytes;
// - enhanced 24 h (TTN qalcosonic-w1-codec.js, frame version 0x01, 51 bytes):
//     version(1) now(4) status(1) logVolume(4) then 23 hourly deltas of 14 bits packed LSB-first and a 6-bit multiplier.
//
// The two 47-byte layouts cannot be told apart by length. `config.w1Layout` says which one a meter sends
// ('extended' or 'extended_temperature'); when it is absent or 'auto' the decoder reads the frame both
// ways and keeps the reading whose log time is plausible: in a real frame the log time comes from the
// same clock as the frame time, just before it (the start of the logged hours), whereas read in the wrong
// layout it is made of the temperature and half of the log time (or half of the log time and half of the
// log volume), which lands decades away. Only when both or neither readings are plausible does the
// volume check (log volume + deltas ≤ current volume) decide, and failing that the frame is refused with
// a message asking for w1Layout rather than guessed.

import * as z from 'zod';
import { byteAt, guarded, hex2, toHex, u16le, u32le, unixTime } from './reader.ts';
import { decodeFailed, decoded, type DecodeResult, type Decoder, type HistoryPoint, type Measurements } from './types.ts';

const HOUR_S = 3600;
/** How long before the frame time a log time may lie: 15 deltas are hours, or days on meters set to daily logging. */
const MAX_LOG_AGE_S = 62 * 24 * HOUR_S;

const configSchema = z.looseObject({
  w1Layout: z.enum(['auto', 'extended', 'extended_temperature']).optional(),
});
type W1Layout = 'auto' | 'extended' | 'extended_temperature';

/**
 * The status byte of fPort 100 frames (Axioma W1 Extended V01.7, as read by ZENNER's ELEMENT parser):
 * bits 2–4 are flags, bits 5–7 one error code.
 */
export function w1StatusAlarms(status: number): string[] {
  const alarms: string[] = [];
  if (status & 0x04) alarms.push('low_battery');
  if (status & 0x08) alarms.push('permanent_error');
  if (status & 0x10) alarms.push('temporary_error');
  const code = status >> 5;
  const codes: Readonly<Record<number, string>> = { 1: 'leakage', 3: 'backflow', 4: 'freeze', 5: 'burst' };
  if (code !== 0) alarms.push(codes[code] ?? `unknown_status_code_${code}`);
  // A temporary error with no error code is how the meter reports an empty pipe (diwise "empty spool").
  if (status & 0x10 && code === 0) alarms.push('pipe_empty');
  if (status & 0x03) alarms.push(`unknown_status_bits_${hex2(status & 0x03)}`);
  return alarms;
}

/** The alarm byte of fPort 103 frames: one bit per alarm (ELEMENT and diwise agree on bits 0–5). */
export function w1AlarmBits(alarm: number): string[] {
  const names = ['leakage', 'burst', 'freeze', 'tamper', 'no_consumption', 'backflow'];
  const alarms: string[] = [];
  for (let bit = 0; bit < 8; bit++) {
    if (alarm & (1 << bit)) alarms.push(names[bit] ?? `unknown_alarm_bit_${bit}`);
  }
  return alarms;
}

interface ExtendedReading {
  layout: 'extended' | 'extended_temperature';
  now: number;
  status: number;
  currentLitres: number;
  temperatureC?: number;
  logTime: number;
  logLitres: number;
  deltas: number[];
  trailing?: number;
}

function readExtended(bytes: Uint8Array, layout: ExtendedReading['layout']): ExtendedReading {
  const header = layout === 'extended' ? 17 : 19;
  const reading: ExtendedReading = {
    layout,
    now: u32le(bytes, 0),
    status: byteAt(bytes, 4),
    currentLitres: u32le(bytes, 5),
    logTime: u32le(bytes, header - 8),
    logLitres: u32le(bytes, header - 4),
    deltas: [],
  };
  if (layout === 'extended_temperature') reading.temperatureC = u16le(bytes, 9) / 100;
  let at = header;
  for (; at + 1 < bytes.length; at += 2) reading.deltas.push(u16le(bytes, at));
  if (at < bytes.length) reading.trailing = byteAt(bytes, at);
  return reading;
}

const timePlausible = (r: ExtendedReading): boolean => r.logTime <= r.now && r.now - r.logTime <= MAX_LOG_AGE_S;
const volumePlausible = (r: ExtendedReading): boolean => r.logLitres + r.deltas.reduce((a, b) => a + b, 0) <= r.currentLitres;

function chooseLayout(bytes: Uint8Array, layout: W1Layout): { reading: ExtendedReading; warnings: string[] } | { error: string } {
  if (layout !== 'auto') return { reading: readExtended(bytes, layout), warnings: [] };
  const candidates = [readExtended(bytes, 'extended')];
  if (bytes.length >= 19) candidates.push(readExtended(bytes, 'extended_temperature'));
  const byTime = candidates.filter(timePlausible);
  if (byTime.length === 1 && byTime[0]) return { reading: byTime[0], warnings: [] };
  const pool = byTime.length > 1 ? byTime : candidates;
  const byVolume = pool.filter(volumePlausible);
  if (byVolume.length === 1 && byVolume[0]) {
    return { reading: byVolume[0], warnings: [`W1 layout chosen by volume consistency (${byVolume[0].layout}); set config.w1Layout to be sure`] };
  }
  return { error: `cannot tell the W1 extended layout of this ${bytes.length}-byte frame (with or without temperature); set config.w1Layout` };
}

function extendedResult(reading: ExtendedReading, warnings: string[]): DecodeResult {
  if (reading.trailing !== undefined && reading.trailing !== 0x2f) {
    warnings.push(`trailing byte ${hex2(reading.trailing)} ignored (0x2f is the documented padding)`);
  }
  // Logged values sit on the hour: the log time is floored to it (as ELEMENT and diwise do).
  const logHour = reading.logTime - (reading.logTime % HOUR_S);
  const history: HistoryPoint[] = [];
  let litres = reading.logLitres;
  history.push({ time: unixTime(logHour), measurements: { volumeM3: litres / 1000, meterValue: litres / 1000 } });
  reading.deltas.forEach((delta, index) => {
    litres += delta;
    history.push({ time: unixTime(logHour + (index + 1) * HOUR_S), measurements: { volumeM3: litres / 1000, meterValue: litres / 1000 } });
  });
  const measurements: Measurements = {
    volumeM3: reading.currentLitres / 1000,
    meterValue: reading.currentLitres / 1000,
    deviceTime: unixTime(reading.now),
    alarms: w1StatusAlarms(reading.status),
  };
  if (reading.temperatureC !== undefined) measurements.temperatureC = reading.temperatureC;
  return decoded({
    measurements,
    history,
    frameType: reading.layout,
    extra: { status: reading.status, logTime: unixTime(reading.logTime).toISOString(), logVolumeM3: reading.logLitres / 1000, deltasLitres: reading.deltas },
    warnings,
  });
}

/** `count` bits starting `startBit` bits after byte `startByte`, least significant bit first. */
function bitsLE(bytes: Uint8Array, startByte: number, startBit: number, count: number): number {
  let value = 0;
  for (let i = 0; i < count; i++) {
    const bit = startBit + i;
    if ((byteAt(bytes, startByte + (bit >> 3)) >> (bit & 7)) & 1) value += 2 ** i;
  }
  return value;
}

function enhancedResult(bytes: Uint8Array): DecodeResult {
  const warnings: string[] = [];
  if (bytes.length > 51) warnings.push(`${bytes.length - 51} trailing byte(s) after the 51-byte enhanced frame ignored`);
  const now = u32le(bytes, 1);
  const status = byteAt(bytes, 5);
  const logLitres = u32le(bytes, 6);
  const deltas: number[] = [];
  for (let i = 0; i < 23; i++) deltas.push(bitsLE(bytes, 10, i * 14, 14));
  const multiplier = bitsLE(bytes, 10, 23 * 14, 6);
  if (multiplier !== 0) warnings.push(`history multiplier ${multiplier} is not 0; its scaling is undocumented, deltas used as sent`);

  // diwise (tested against real meters): the log volume is the previous day's 01:00 value, and the 23
  // deltas fill the hours up to 00:00 of the frame's day (UTC). The TTN codec gives no times at all.
  const frameDay = now - (now % (24 * HOUR_S));
  const logTime = frameDay - 23 * HOUR_S;
  const history: HistoryPoint[] = [];
  let litres = logLitres;
  history.push({ time: unixTime(logTime), measurements: { volumeM3: litres / 1000, meterValue: litres / 1000 } });
  deltas.forEach((delta, index) => {
    litres += delta;
    history.push({ time: unixTime(logTime + (index + 1) * HOUR_S), measurements: { volumeM3: litres / 1000, meterValue: litres / 1000 } });
  });
  return decoded({
    // The frame's volume is the last logged hour's (log volume + all deltas), not a reading at `now`.
    measurements: { volumeM3: litres / 1000, meterValue: litres / 1000, deviceTime: unixTime(now), alarms: w1StatusAlarms(status) },
    history,
    frameType: 'enhanced_24h',
    extra: { frameVersion: byteAt(bytes, 0), status, logVolumeM3: logLitres / 1000, deltasLitres: deltas, historyMultiplier: multiplier },
    warnings,
  });
}

export const qalcosonicW1: Decoder = (input) =>
  guarded(() => {
    const { bytes, fPort } = input;
    const config = configSchema.safeParse(input.config ?? {});
    const warnings = config.success ? [] : ['config.w1Layout is not one of auto, extended, extended_temperature; using auto'];
    const layout: W1Layout = (config.success ? config.data.w1Layout : undefined) ?? 'auto';

    if (bytes.length === 0) return decodeFailed('empty_payload', 'W1 uplink has no bytes');
    switch (fPort) {
      case 100: {
        if (bytes.length >= 51) {
          if (byteAt(bytes, 0) !== 0x01) return decodeFailed('invalid_frame', `unsupported W1 enhanced frame version ${hex2(byteAt(bytes, 0))}`);
          if (bytes.length > 52) return decodeFailed('invalid_frame', `W1 frame of ${bytes.length} bytes matches no known layout`);
          const result = enhancedResult(bytes);
          if (result.ok) result.value.warnings.unshift(...warnings);
          return result;
        }
        if (bytes.length < 17) return decodeFailed('truncated', `W1 volume frame of ${bytes.length} bytes is shorter than the 17-byte header`);
        const chosen = chooseLayout(bytes, layout);
        if ('error' in chosen) return decodeFailed('invalid_frame', chosen.error);
        return extendedResult(chosen.reading, [...warnings, ...chosen.warnings]);
      }
      case 101:
        // ELEMENT leaves it unparsed because the V01.7 document's description of it is wrong; so do we.
        return decoded({ measurements: {}, frameType: 'config', extra: { configHex: toHex(bytes) }, warnings });
      case 103: {
        if (bytes.length < 5) return decodeFailed('truncated', `W1 alarm frame needs 5 bytes, got ${bytes.length}`);
        if (bytes.length > 5) return decodeFailed('invalid_frame', `W1 alarm frame should be 5 bytes, got ${bytes.length}`);
        const alarm = byteAt(bytes, 4);
        return decoded({
          measurements: { deviceTime: unixTime(u32le(bytes, 0)), alarms: w1AlarmBits(alarm) },
          frameType: 'alarm',
          extra: { alarmCode: alarm },
          warnings,
        });
      }
      default:
        return decodeFailed('unsupported_fport', `W1 sends on fPorts 100, 101 and 103, got ${fPort}`);
    }
  });
