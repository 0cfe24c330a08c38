// The decoder contract (after TheThingsNetwork's codecs): a pure function of the uplink's bytes and
// fPort that returns a decoded result or a typed error, never throws, and normalises values to named
// fields in SI units.

export interface UplinkInput {
  bytes: Uint8Array;
  fPort: number;
  /** Per-device configuration from the registry (e.g. pulsesPerUnit for EM300-DI, register map for UC100). */
  config?: Readonly<Record<string, unknown>>;
}

/** A Modbus RTU response frame carried in an uplink (UC100 pass-through on its pass-through fPort). */
export interface ModbusResponseFrame {
  slaveId: number;
  functionCode: number;
  /** The whole frame as lowercase hex, CRC included. */
  frameHex: string;
  crcValid: boolean;
  /** FC05 echo: coil address and value (true = ON / 0xFF00). */
  coil?: { address: number; on: boolean };
  /** FC06/FC16 echo: first register address written. */
  register?: { address: number; value?: number; quantity?: number };
  /** Exception responses (function code | 0x80). */
  exceptionCode?: number;
}

/** Normalised values. Every field is optional: a frame reports what it has. */
export interface Measurements {
  batteryPercent?: number;
  batteryVoltage?: number;
  temperatureC?: number;
  humidityPercent?: number;
  /** Raw pulse counter (EM300-DI GPIO counter). */
  pulseCount?: number;
  /** Metered quantity in the meter's unit, when the decoder can compute it (kWh, m3). */
  meterValue?: number;
  volumeM3?: number;
  voltageV?: number;
  currentA?: number;
  powerW?: number;
  energyImportKwh?: number;
  energyExportKwh?: number;
  frequencyHz?: number;
  powerFactor?: number;
  occupied?: boolean;
  /** Time the device says it measured (meter clock), if the frame carries it. */
  deviceTime?: Date;
  alarms?: string[];
}

/**
 * A timestamped record carried in a frame besides its current values: a device's stored history
 * (Milesight 0x20/0x21 0xCE) or a meter's logged hourly volumes (Qalcosonic W1). Ingest may store each
 * point as its own reading at `time`.
 */
export interface HistoryPoint {
  time: Date;
  measurements: Measurements;
  /** Point-specific details by the decoder's own names (e.g. a Modbus channel's raw value). */
  extra?: Record<string, unknown>;
}

export interface DecodedUplink {
  measurements: Measurements;
  /** Present when the frame carried timestamped history records, oldest first. */
  history?: HistoryPoint[];
  /** Present when the uplink carried a Modbus response frame. */
  modbusResponse?: ModbusResponseFrame;
  /** Anything else the frame said, by the decoder's own field names (kept in meter_readings.extra). */
  extra: Record<string, unknown>;
  /** Frame kind, e.g. 'periodic', 'history', 'device_info', 'alarm', 'extended'. */
  frameType: string;
  warnings: string[];
}

export type DecodeErrorCode = 'empty_payload' | 'unsupported_fport' | 'truncated' | 'unknown_channel' | 'invalid_frame';

export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type DecodeResult = { ok: true; value: DecodedUplink } | { ok: false; error: DecodeError };

export type Decoder = (input: UplinkInput) => DecodeResult;

export const decoded = (value: Omit<DecodedUplink, 'warnings' | 'extra'> & Partial<DecodedUplink>): DecodeResult => ({
  ok: true,
  value: { warnings: [], extra: {}, ...value },
});
export const decodeFailed = (code: DecodeErrorCode, message: string): DecodeResult => ({
  ok: false,
  error: new DecodeError(code, message),
});
