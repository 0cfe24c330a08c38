// Loads the public test vectors (copied from shared/vectors into test/fixtures/vectors) for decoder
// tests, checked with zod, and small helpers those tests share. Each vector keeps its `source`, which
// tests cite.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DecodeError, type DecodeResult, type DecodedUplink, type Measurements } from '#domain/decoders/types';
import { vectorsDir } from '../../support/vectors.ts';

const vectorSchema = z.looseObject({
  source: z.string(),
  input: z.looseObject({
    fPort: z.number().int().optional(),
    hex: z.string().optional(),
    frame_without_crc_hex: z.string().optional(),
  }),
  expected: z.unknown(),
  note: z.string().optional(),
});
export type Vector = z.infer<typeof vectorSchema>;

export function loadVectors(file: string): Vector[] {
  const raw: unknown = JSON.parse(readFileSync(path.join(vectorsDir, file), 'utf8'));
  return z.array(vectorSchema).parse(raw);
}

/** Bytes from hex written any way the sources write it ("01 75 5C", "0x01, 0x75", "01755c"). */
export function hexBytes(text: string): Uint8Array {
  const clean = text.replace(/0x/gi, '').replace(/[^0-9a-f]/gi, '');
  if (clean.length % 2 !== 0) throw new Error(`odd-length hex: ${text}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export const vectorHex = (vector: Vector): string => {
  const hex = vector.input.hex ?? vector.input.frame_without_crc_hex;
  if (hex === undefined) throw new Error(`vector from ${vector.source} has no hex input`);
  return hex.replace(/[^0-9a-f]/gi, '').toLowerCase();
};

export function expectOk(result: DecodeResult): DecodedUplink {
  if (!result.ok) throw new Error(`expected a decoded uplink, got ${result.error.code}: ${result.error.message}`);
  return result.value;
}

export function expectError(result: DecodeResult): DecodeError {
  if (result.ok) throw new Error(`expected a DecodeError, got frame ${result.value.frameType}`);
  return result.error;
}

/** Every number a decoder reports must be finite and every date valid: what the property tests check. */
export function assertWellFormed(result: DecodeResult): void {
  if (!result.ok) {
    if (!(result.error instanceof DecodeError)) throw new Error('error is not a DecodeError');
    if (!['empty_payload', 'unsupported_fport', 'truncated', 'unknown_channel', 'invalid_frame'].includes(result.error.code)) {
      throw new Error(`unknown error code ${result.error.code}`);
    }
    return;
  }
  const check = (m: Measurements, where: string): void => {
    for (const [key, value] of Object.entries(m)) {
      if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${where}.${key} is not finite`);
      if (value instanceof Date && Number.isNaN(value.getTime())) throw new Error(`${where}.${key} is an invalid date`);
    }
  };
  check(result.value.measurements, 'measurements');
  for (const [i, point] of (result.value.history ?? []).entries()) {
    if (Number.isNaN(point.time.getTime())) throw new Error(`history[${i}].time is invalid`);
    check(point.measurements, `history[${i}]`);
  }
  JSON.stringify(result.value);
}
