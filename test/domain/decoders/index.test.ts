// The decoder registry and its safe wrapper: names match the device catalogue, and nothing a device
// or a bad registry row can send makes decodeUplink throw.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeUplink, decoderNames, getDecoder, isDecoderName } from '#domain/decoders/index';
import { deviceProfiles } from '#domain/device-profiles';
import { assertWellFormed, expectError, expectOk, hexBytes } from './vectors.ts';

describe('decoder registry', () => {
  it('registers the four LoRaWAN decoders under their devices.decoder names', () => {
    expect([...decoderNames].sort()).toEqual(['browan_tabs', 'milesight_em300_di', 'milesight_uc100', 'qalcosonic_w1']);
  });

  it('has a decoder for every LoRaWAN profile that reads sensor data', () => {
    const lorawanDecoders = Object.values(deviceProfiles)
      .filter((p) => p.kind === 'lorawan' && p.decoder !== 'kuando_busylight')
      .map((p) => p.decoder);
    for (const name of lorawanDecoders) expect(isDecoderName(name), name).toBe(true);
  });

  it('returns undefined for an unknown name', () => {
    expect(getDecoder('dragino_lht65')).toBeUndefined();
    expect(getDecoder('toString')).toBeUndefined();
  });
});

describe('decodeUplink', () => {
  it('decodes with the named decoder (TTN em300-di-codec.yaml example)', () => {
    const uplink = expectOk(decodeUplink('milesight_em300_di', { bytes: hexBytes('01755c05c800010000'), fPort: 85, config: { pulsesPerUnit: 1000 } }));
    expect(uplink.measurements.meterValue).toBe(0.256);
  });

  it('reports an unknown decoder name as a DecodeError', () => {
    const error = expectError(decodeUplink('no_such_decoder', { bytes: hexBytes('00'), fPort: 1 }));
    expect(error.code).toBe('invalid_frame');
    expect(error.message).toMatch(/no_such_decoder/);
  });

  it('refuses an fPort outside 0..255', () => {
    expect(expectError(decodeUplink('browan_tabs', { bytes: hexBytes('01bb340400dc7801'), fPort: 300 })).code).toBe('unsupported_fport');
    expect(expectError(decodeUplink('browan_tabs', { bytes: hexBytes('01bb340400dc7801'), fPort: 1.5 })).code).toBe('unsupported_fport');
  });

  it('refuses a payload far larger than any uplink', () => {
    expect(expectError(decodeUplink('milesight_uc100', { bytes: new Uint8Array(5000), fPort: 85 })).code).toBe('invalid_frame');
  });

  it('contains an exception raised while decoding (bytes that throw when read, config that throws when read)', () => {
    const hostile = new Proxy(new Uint8Array(8), {});
    expect(expectError(decodeUplink('browan_tabs', { bytes: hostile, fPort: 102 })).code).toBe('invalid_frame');
    const config = Object.defineProperty({}, 'pulsesPerUnit', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(expectError(decodeUplink('milesight_em300_di', { bytes: hexBytes('01755c'), fPort: 85, config })).code).toBe('invalid_frame');
  });

  it('gives a decoded uplink or a typed DecodeError for any decoder, bytes, fPort and config, never an exception', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...decoderNames, 'unknown'),
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.oneof(fc.constantFrom(5, 85, 100, 101, 102, 103), fc.integer({ min: -10, max: 300 })),
        fc.option(fc.dictionary(fc.constantFrom('pulsesPerUnit', 'w1Layout', 'channels', 'passThroughFPort', 'fPort', 'meterValueField'), fc.jsonValue()), { nil: undefined }),
        (name, bytes, fPort, config) => {
          // An exception would fail the property with its counterexample.
          assertWellFormed(decodeUplink(name, { bytes, fPort, ...(config ? { config } : {}) }));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
