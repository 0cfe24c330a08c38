// Modbus RTU response frames, as a Milesight UC100 in pass-through mode uplinks them from the meter on
// its RS485 bus: slave id, function code, PDU, CRC-16/MODBUS (low byte first). Parsing only; building
// request frames is functions/domain/modbus.ts's job.

import { crc16Modbus, verifyCrc } from '../modbus.ts';
import { byteAt, toHex, u16be, f32be, float32Value } from './reader.ts';
import type { DecodeErrorCode, ModbusResponseFrame } from './types.ts';

// One CRC for requests and responses: functions/domain/modbus.ts.
export { crc16Modbus };
/** True when the last two bytes are the CRC of the rest, low byte first as on the wire. */
export const hasValidCrc = verifyCrc;

export const modbusExceptionNames: Readonly<Record<number, string>> = {
  0x01: 'illegal_function',
  0x02: 'illegal_data_address',
  0x03: 'illegal_data_value',
  0x04: 'server_device_failure',
  0x05: 'acknowledge',
  0x06: 'server_device_busy',
  0x08: 'memory_parity_error',
  0x0a: 'gateway_path_unavailable',
  0x0b: 'gateway_target_failed_to_respond',
};

export interface ParsedModbusResponse {
  frame: ModbusResponseFrame;
  /** FC03/FC04: the register words read, in order. The request (not the response) says which address they start at. */
  registers?: number[];
  /** FC01/FC02: the coil or input bits read, LSB of the first data byte first (padding bits included). */
  bits?: boolean[];
  /** FC15 echo: first coil written and how many. */
  coilsWritten?: { address: number; quantity: number };
  warnings: string[];
}

export type ModbusResponseParse =
  | { ok: true; value: ParsedModbusResponse }
  | { ok: false; code: DecodeErrorCode; message: string };

const failed = (code: DecodeErrorCode, message: string): ModbusResponseParse => ({ ok: false, code, message });

/** PDU length (slave id + function code + data, CRC excluded) a response must have, when it can be told. */
function expectedPduLength(frame: Uint8Array): number | 'unknown' | 'truncated' {
  const functionCode = byteAt(frame, 1);
  if (functionCode & 0x80) return 3;
  switch (functionCode) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
      return frame.length < 3 ? 'truncated' : 3 + byteAt(frame, 2);
    case 0x05:
    case 0x06:
    case 0x0f:
    case 0x10:
      return 6;
    default:
      return 'unknown';
  }
}

/**
 * Parses one response frame. A frame whose CRC does not match is still parsed (crcValid: false) so the
 * command layer can see what came back; a frame whose length does not fit its function code is an error.
 * A frame of exactly the PDU length is taken as sent without CRC (some bridges strip it) and flagged.
 */
export function parseModbusResponse(frame: Uint8Array): ModbusResponseParse {
  if (frame.length === 0) return failed('empty_payload', 'Modbus response is empty');
  if (frame.length < 3) return failed('truncated', `Modbus response of ${frame.length} bytes is shorter than any response PDU`);

  const slaveId = byteAt(frame, 0);
  const functionCode = byteAt(frame, 1);
  const warnings: string[] = [];
  const pduLength = expectedPduLength(frame);

  let crcValid: boolean;
  if (pduLength === 'truncated') {
    return failed('truncated', 'Modbus read response ends before its byte count');
  } else if (pduLength === 'unknown') {
    // Without a known layout only a matching CRC says the frame is whole.
    if (frame.length < 4 || !hasValidCrc(frame)) {
      return failed('invalid_frame', `Modbus function code 0x${functionCode.toString(16)} is not supported and the frame CRC does not match`);
    }
    warnings.push(`Modbus function code 0x${functionCode.toString(16)} is not interpreted; frame kept as hex`);
    crcValid = true;
  } else if (frame.length === pduLength + 2) {
    crcValid = hasValidCrc(frame);
    if (!crcValid) warnings.push('Modbus response CRC does not match its contents');
  } else if (frame.length === pduLength) {
    crcValid = false;
    warnings.push('Modbus response carries no CRC');
  } else if (frame.length < pduLength) {
    return failed('truncated', `Modbus response for function 0x${functionCode.toString(16)} needs ${pduLength + 2} bytes, got ${frame.length}`);
  } else {
    return failed(
      'invalid_frame',
      `Modbus response for function 0x${functionCode.toString(16)} should be ${pduLength + 2} bytes, got ${frame.length}`,
    );
  }

  const result: ParsedModbusResponse = {
    frame: { slaveId, functionCode, frameHex: toHex(frame), crcValid },
    warnings,
  };

  if (functionCode & 0x80) {
    result.frame.exceptionCode = byteAt(frame, 2);
    return { ok: true, value: result };
  }

  switch (functionCode) {
    case 0x01:
    case 0x02: {
      const byteCount = byteAt(frame, 2);
      const bits: boolean[] = [];
      for (let i = 0; i < byteCount * 8; i++) bits.push(((byteAt(frame, 3 + (i >> 3)) >> (i & 7)) & 1) === 1);
      result.bits = bits;
      break;
    }
    case 0x03:
    case 0x04: {
      const byteCount = byteAt(frame, 2);
      if (byteCount % 2 !== 0) return failed('invalid_frame', `register read response has an odd byte count (${byteCount})`);
      const registers: number[] = [];
      for (let i = 0; i < byteCount; i += 2) registers.push(u16be(frame, 3 + i));
      result.registers = registers;
      break;
    }
    case 0x05: {
      const value = u16be(frame, 4);
      if (value !== 0xff00 && value !== 0x0000) {
        return failed('invalid_frame', `FC05 echo value 0x${value.toString(16)} is neither ON (0xff00) nor OFF (0x0000)`);
      }
      result.frame.coil = { address: u16be(frame, 2), on: value === 0xff00 };
      break;
    }
    case 0x06:
      result.frame.register = { address: u16be(frame, 2), value: u16be(frame, 4) };
      break;
    case 0x0f:
      result.coilsWritten = { address: u16be(frame, 2), quantity: u16be(frame, 4) };
      break;
    case 0x10:
      result.frame.register = { address: u16be(frame, 2), quantity: u16be(frame, 4) };
      break;
  }
  return { ok: true, value: result };
}

/**
 * The float32 held in two consecutive registers, high word first (Eastron's and most meters' order),
 * rounded to float32 precision; undefined when the words are not there or encode NaN/Infinity.
 */
export function registersToFloat32BE(registers: readonly number[], index: number): number | undefined {
  const high = registers[index];
  const low = registers[index + 1];
  if (high === undefined || low === undefined) return undefined;
  const bytes = new Uint8Array([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  const value = f32be(bytes, 0);
  return Number.isFinite(value) ? float32Value(value) : undefined;
}
