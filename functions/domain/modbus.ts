// Modbus RTU frames for meter commands sent through a LoRaWAN-RS485 bridge (UC100 pass-through):
// CRC-16/MODBUS, the write requests (FC05, FC06, FC16), the relay frame a device's registry config asks
// for, and the response that confirms a write. Pure functions over bytes; no I/O.
import * as z from 'zod';
import { issueLines } from './issues.ts';

const FC_WRITE_SINGLE_COIL = 0x05;
const FC_WRITE_SINGLE_REGISTER = 0x06;
const FC_WRITE_MULTIPLE_REGISTERS = 0x10;

/** Modbus application spec v1.1b3 §6.12: at most 123 registers in one Write Multiple Registers request. */
const MAX_WRITE_REGISTERS = 123;

/** Thrown for arguments no Modbus device could accept (out-of-range slave, address or value, bad frame). */
export class ModbusFrameError extends Error {
  override name = 'ModbusFrameError';
}

/** Thrown when a device's relay configuration does not satisfy relayConfigSchema. */
export class RelayConfigError extends Error {
  override name = 'RelayConfigError';
  constructor(
    message: string,
    readonly issues: readonly string[],
  ) {
    super(message);
  }
}

/**
 * CRC-16/MODBUS (poly 0x8005 reflected = 0xA001, init 0xFFFF, no final XOR), computed bit by bit:
 * frames are a few bytes, so a lookup table would buy nothing but a place for typos.
 * The value goes on the wire low byte first (see appendCrc).
 */
export function crc16Modbus(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    }
  }
  return crc;
}

/** The frame followed by its CRC, low byte first as Modbus RTU sends it. */
export function appendCrc(frame: Uint8Array): Uint8Array {
  const crc = crc16Modbus(frame);
  const out = new Uint8Array(frame.length + 2);
  out.set(frame, 0);
  out[frame.length] = crc & 0xff;
  out[frame.length + 1] = crc >>> 8;
  return out;
}

/** Does a whole frame (payload + 2 CRC bytes) carry a correct CRC? */
export function verifyCrc(frame: Uint8Array): boolean {
  if (frame.length < 3) return false;
  const body = frame.subarray(0, frame.length - 2);
  const crc = crc16Modbus(body);
  return frame[frame.length - 2] === (crc & 0xff) && frame[frame.length - 1] === crc >>> 8;
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ModbusFrameError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

// Unicast addresses only: a broadcast (slave 0) is never answered, so a command sent to it could never
// be confirmed.
const checkSlave = (slaveId: number): void => checkInt('slaveId', slaveId, 1, 247);
const checkAddress = (name: string, address: number): void => checkInt(name, address, 0, 0xffff);
const checkWord = (name: string, value: number): void => checkInt(name, value, 0, 0xffff);

/** FC05 Write Single Coil: ON is 0xFF00, OFF is 0x0000 (the only two values the spec allows). */
export function buildWriteSingleCoil(slaveId: number, coil: number, on: boolean): Uint8Array {
  checkSlave(slaveId);
  checkAddress('coil', coil);
  return appendCrc(Uint8Array.of(slaveId, FC_WRITE_SINGLE_COIL, coil >>> 8, coil & 0xff, on ? 0xff : 0x00, 0x00));
}

/** FC06 Write Single Register. */
export function buildWriteSingleRegister(slaveId: number, address: number, value: number): Uint8Array {
  checkSlave(slaveId);
  checkAddress('address', address);
  checkWord('value', value);
  return appendCrc(
    Uint8Array.of(slaveId, FC_WRITE_SINGLE_REGISTER, address >>> 8, address & 0xff, value >>> 8, value & 0xff),
  );
}

/** FC16 Write Multiple Registers: slave, 0x10, address, quantity, byte count, values big-endian, CRC. */
export function buildWriteMultipleRegisters(slaveId: number, address: number, values: readonly number[]): Uint8Array {
  checkSlave(slaveId);
  checkAddress('address', address);
  checkInt('number of registers', values.length, 1, MAX_WRITE_REGISTERS);
  if (address + values.length > 0x10000) {
    throw new ModbusFrameError(`registers ${address}..${address + values.length - 1} run past 0xFFFF`);
  }
  const frame = new Uint8Array(7 + values.length * 2);
  frame.set([slaveId, FC_WRITE_MULTIPLE_REGISTERS, address >>> 8, address & 0xff, 0, values.length, values.length * 2]);
  values.forEach((value, i) => {
    checkWord(`values[${i}]`, value);
    frame[7 + i * 2] = value >>> 8;
    frame[8 + i * 2] = value & 0xff;
  });
  return appendCrc(frame);
}

/** A write request recognised in raw bytes (what a bridge forwards to the RS485 bus). */
export type ModbusWriteRequest =
  | { functionCode: 0x05; slaveId: number; address: number; on: boolean }
  | { functionCode: 0x06; slaveId: number; address: number; value: number }
  | { functionCode: 0x10; slaveId: number; address: number; values: number[] };

/**
 * Recognise a well-formed FC05/FC06/FC16 request with a valid CRC; null for anything else (reads,
 * responses, other protocols, corrupted frames). Never throws: it runs on arbitrary downlink bytes.
 */
export function parseWriteRequest(frame: Uint8Array): ModbusWriteRequest | null {
  if (frame.length < 8 || !verifyCrc(frame)) return null;
  const slaveId = frame[0] ?? 0;
  const functionCode = frame[1];
  const word = (i: number): number => ((frame[i] ?? 0) << 8) | (frame[i + 1] ?? 0);
  const address = word(2);
  if (functionCode === FC_WRITE_SINGLE_COIL && frame.length === 8) {
    const value = word(4);
    if (value !== 0xff00 && value !== 0x0000) return null;
    return { functionCode: FC_WRITE_SINGLE_COIL, slaveId, address, on: value === 0xff00 };
  }
  if (functionCode === FC_WRITE_SINGLE_REGISTER && frame.length === 8) {
    return { functionCode: FC_WRITE_SINGLE_REGISTER, slaveId, address, value: word(4) };
  }
  if (functionCode === FC_WRITE_MULTIPLE_REGISTERS && frame.length >= 11) {
    const quantity = word(4);
    const byteCount = frame[6];
    if (quantity < 1 || quantity > MAX_WRITE_REGISTERS || byteCount !== quantity * 2) return null;
    if (frame.length !== 9 + byteCount) return null;
    const values = Array.from({ length: quantity }, (_, i) => word(7 + i * 2));
    return { functionCode: FC_WRITE_MULTIPLE_REGISTERS, slaveId, address, values };
  }
  return null;
}

/**
 * The response a slave sends when it has executed a write request: for FC05/FC06 an exact echo of the
 * request; for FC16 slave, 0x10, starting address, quantity of registers, CRC (Modbus application
 * spec v1.1b3 §6.5, §6.6, §6.12). Throws ModbusFrameError for frames that are not such a request.
 */
export function expectedEcho(frame: Uint8Array): Uint8Array {
  const request = parseWriteRequest(frame);
  if (!request) {
    throw new ModbusFrameError('not a Modbus FC05/FC06/FC16 write request with a valid CRC');
  }
  if (request.functionCode !== FC_WRITE_MULTIPLE_REGISTERS) return Uint8Array.from(frame);
  return appendCrc(frame.subarray(0, 6));
}

/** Is `response` exactly the frame that confirms `request`? (Exception responses and garbage are not.) */
export function confirmsWrite(request: Uint8Array, response: Uint8Array): boolean {
  if (!parseWriteRequest(request)) return false;
  const expected = expectedEcho(request);
  return expected.length === response.length && expected.every((b, i) => b === response[i]);
}

// ---- Relay frames from registry configuration ----

const slaveIdSchema = z.number().int().min(1).max(247);
const addressSchema = z.number().int().min(0).max(0xffff);
const registerValuesSchema = z.array(z.number().int().min(0).max(0xffff)).min(1).max(MAX_WRITE_REGISTERS);

/** Relay switched by FC05 on one coil (the seed's tested SDM320C frames: slave 1, coil 0). */
const coilRelayConfigSchema = z
  .object({
    method: z.literal('coil').default('coil'),
    slaveId: slaveIdSchema.default(1),
    coil: addressSchema.default(0),
  })
  .strict();

/**
 * Relay switched by writing holding registers (e.g. SDM320-LoRa variants: FC16 to 0xFD00). FC06 writes
 * exactly one register, so it takes exactly one value per action.
 */
const registerRelayConfigSchema = z
  .object({
    method: z.literal('register'),
    slaveId: slaveIdSchema.default(1),
    register: addressSchema,
    onValues: registerValuesSchema,
    offValues: registerValuesSchema,
    functionCode: z.union([z.literal(6), z.literal(16)]).default(16),
  })
  .strict()
  .refine((c) => c.functionCode !== 6 || (c.onValues.length === 1 && c.offValues.length === 1), {
    message: 'functionCode 6 writes a single register: onValues and offValues must have exactly one value',
  })
  // On and off write the same register block; a length mismatch is a typo in the registry.
  .refine((c) => c.onValues.length === c.offValues.length, {
    message: 'onValues and offValues must write the same number of registers',
  })
  .refine((c) => c.register + c.onValues.length <= 0x10000, { message: 'registers run past 0xFFFF' });

/** A device's `config.relay`; absent means the SDM320C default (FC05, slave 1, coil 0). */
export const relayConfigSchema = z
  .discriminatedUnion('method', [coilRelayConfigSchema, registerRelayConfigSchema])
  .default({ method: 'coil', slaveId: 1, coil: 0 });

export type RelayConfig = z.infer<typeof relayConfigSchema>;
export type RelayConfigInput = z.input<typeof relayConfigSchema>;
export type RelayAction = 'on' | 'off';

/** Validate a relay config from the registry (undefined gives the default). */
export function parseRelayConfig(raw: unknown): RelayConfig {
  const result = relayConfigSchema.safeParse(raw);
  if (!result.success) {
    const issues = issueLines(result.error, '(relay)').map((l) => `${l.path}: ${l.message}`);
    throw new RelayConfigError(`Invalid relay configuration: ${issues.join('; ')}`, issues);
  }
  return result.data;
}

/** The Modbus RTU frame (CRC included) that switches a device's relay on or off. */
export function buildRelayFrame(relayConfig: RelayConfigInput | undefined, action: RelayAction): Uint8Array {
  const config = parseRelayConfig(relayConfig);
  if (config.method === 'coil') return buildWriteSingleCoil(config.slaveId, config.coil, action === 'on');
  const values = action === 'on' ? config.onValues : config.offValues;
  if (config.functionCode === 6) {
    return buildWriteSingleRegister(config.slaveId, config.register, values[0] ?? 0);
  }
  return buildWriteMultipleRegisters(config.slaveId, config.register, values);
}

// ---- Hex helpers shared by the command modules (registry and device_commands store lowercase hex) ----

/** Lowercase hex without separators, the form device_commands.payload_hex stores. */
export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Parse hex, tolerating spaces, dashes and colons between bytes ("01 05 00 00", "01-05-00-00"). */
export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.replace(/[\s:-]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) {
    throw new ModbusFrameError(`not an even-length hex string: ${JSON.stringify(hex.slice(0, 64))}`);
  }
  return Uint8Array.from(clean.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}
