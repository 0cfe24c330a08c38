// The decoder registry: the name stored in devices.decoder → the pure function that reads that
// device's uplinks. Ingest calls decodeUplink(name, input), which never throws: an unknown name, a
// malformed input or a decoder bug all come back as a typed DecodeError for the quarantine.
//
// How to add a decoder: write functions/domain/decoders/<family>.ts exporting a `Decoder` — a pure
// function of { bytes, fPort, config } that returns decoded({...}) or decodeFailed(code, message) and
// never throws (wrap the body in `guarded`), with values normalised to the named SI fields of
// Measurements (add an optional field to types.ts if the device measures something new) and anything
// else in `extra`. Read per-device settings from `config` with a zod schema, warn and fall back when they
// are wrong, and never hard-code what belongs in the registry (units, channel meanings, ports). Add it to
// `decoders` below under the name the device catalogue (functions/domain/device-profiles.ts) uses, and
// give it test/domain/decoders/<family>.test.ts with the public vectors (cite each source) plus the
// fast-check property that any bytes and fPort give ok or a DecodeError.

import { browanTabs } from './browan-tabs.ts';
import { em300di } from './em300di.ts';
import { qalcosonicW1 } from './qalcosonic-w1.ts';
import { DecodeError, type DecodeResult, type Decoder, type UplinkInput } from './types.ts';
import { uc100 } from './uc100.ts';

const decoders = {
  milesight_em300_di: em300di,
  qalcosonic_w1: qalcosonicW1,
  milesight_uc100: uc100,
  browan_tabs: browanTabs,
} as const satisfies Record<string, Decoder>;

export type DecoderName = keyof typeof decoders;
export const decoderNames = Object.keys(decoders) as DecoderName[];

export const isDecoderName = (name: string): name is DecoderName => Object.hasOwn(decoders, name);

export function getDecoder(name: string): Decoder | undefined {
  return isDecoderName(name) ? decoders[name] : undefined;
}

/** LoRaWAN application payloads are at most 242 bytes; anything far larger is not an uplink. */
const MAX_PAYLOAD_BYTES = 1024;

const failure = (code: DecodeError['code'], message: string): DecodeResult => ({ ok: false, error: new DecodeError(code, message) });

/** Decodes with the named decoder; whatever happens, returns a DecodeResult. */
export function decodeUplink(name: string, input: UplinkInput): DecodeResult {
  try {
    const decoder = getDecoder(name);
    if (!decoder) return failure('invalid_frame', `no decoder named '${name}' (known: ${decoderNames.join(', ')})`);
    if (!(input.bytes instanceof Uint8Array)) return failure('invalid_frame', 'uplink bytes are not a byte array');
    if (!Number.isInteger(input.fPort) || input.fPort < 0 || input.fPort > 255) {
      return failure('unsupported_fport', `fPort ${String(input.fPort)} is not a LoRaWAN port number`);
    }
    if (input.bytes.length > MAX_PAYLOAD_BYTES) return failure('invalid_frame', `payload of ${input.bytes.length} bytes is too large for an uplink`);
    const result = decoder(input);
    // A decoder returning something other than a DecodeResult is a bug; report it rather than pass it on.
    if (result.ok === true || (result.ok === false && result.error instanceof DecodeError)) return result;
    return failure('invalid_frame', `decoder '${name}' returned no result`);
  } catch (error) {
    return failure('invalid_frame', `decoder '${name}' failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export { decodeNetworkObject, usesNetworkCodec } from './chirpstack-object.ts';
export type { NetworkObjectDecoder, NetworkObjectOptions } from './chirpstack-object.ts';
export * from './types.ts';
