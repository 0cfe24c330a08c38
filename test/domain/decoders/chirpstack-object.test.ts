// Mapping ChirpStack's codec output (`object`) to Measurements. The objects are the vendor codecs' real
// outputs recorded in the vectors' `verified` entries (Milesight SensorDecoders, TTN vendor codecs), so
// the test also checks that trusting the network codec gives the same measurements as our own decoders.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeNetworkObject, usesNetworkCodec } from '#domain/decoders/chirpstack-object';
import { em300di } from '#domain/decoders/em300di';
import { qalcosonicW1 } from '#domain/decoders/qalcosonic-w1';
import { uc100 } from '#domain/decoders/uc100';
import { assertWellFormed, expectError, expectOk, hexBytes, loadVectors, vectorHex, type Vector } from './vectors.ts';

/** The object a named vendor codec produced for a vector (its `verified` entry). */
function codecOutput(vector: Vector, codec: string): Record<string, unknown> {
  const verified = z.record(z.string(), z.unknown()).parse(vector.verified);
  const output = z.record(z.string(), z.unknown()).parse(verified[codec]);
  const data = output.data;
  return data === undefined ? output : z.record(z.string(), z.unknown()).parse(data);
}

describe('EM300-DI objects from Milesight codecs (test/fixtures/vectors/em300di.json verified outputs)', () => {
  for (const vector of loadVectors('em300di.json')) {
    const hex = vectorHex(vector);
    // The current decoder drops the pre-2023 0x06 channel (our documented decision differs); use the 2023 codec there.
    const codec = hex.startsWith('01756406e1') ? 'milesight_2023_EM300-DI_Hall_TTN.js' : Object.keys(z.record(z.string(), z.unknown()).parse(vector.verified)).find((k) => k.startsWith('milesight_head_em300-di'));
    it(`maps the ${codec ?? '?'} output for ${hex} like the byte decoder — ${vector.source}`, () => {
      // Prepare
      const object = codecOutput(vector, codec ?? '');
      const fromBytes = expectOk(em300di({ bytes: hexBytes(hex), fPort: 85 }));
      // Act
      const fromObject = expectOk(decodeNetworkObject(object, { decoder: 'milesight_em300_di', config: { pulsesPerUnit: 1000 } }));
      // Assess
      expect(fromObject.measurements).toEqual(fromBytes.measurements);
      expect(fromObject.history?.map((p) => [p.time, p.measurements])).toEqual(fromBytes.history?.map((p) => [p.time, p.measurements]));
    });
  }
});

describe('UC100 objects from the Milesight codec (uc100.json verified outputs)', () => {
  const vectors = loadVectors('uc100.json');
  const config = { channels: { '3': 'powerW', '8': 'voltageV' } };

  for (const hex of ['ff190702031500', 'ffeec202030500']) {
    const vector = vectors.find((v) => v.input.hex !== undefined && vectorHex(v) === hex);
    it(`maps modbus_chn_N through config.channels like the byte decoder for ${hex} — ${vector?.source ?? ''}`, () => {
      if (!vector) throw new Error('vector missing');
      const object = codecOutput(vector, 'milesight_head_uc100-decoder.js');
      const fromBytes = expectOk(uc100({ bytes: hexBytes(hex), fPort: 85, config }));
      const fromObject = expectOk(decodeNetworkObject(object, { decoder: 'milesight_uc100', config }));
      expect(fromObject.measurements).toEqual(fromBytes.measurements);
    });
  }

  it('keeps fields it does not map, with a warning when nothing maps', () => {
    const uplink = expectOk(decodeNetworkObject({ device_status: 'on' }, { decoder: 'milesight_uc100' }));
    expect(uplink.measurements).toEqual({});
    expect(uplink.extra).toEqual({ device_status: 'on' });
    expect(uplink.warnings.join(' ')).toMatch(/no field/);
  });
});

describe('Browan TABS object from the TTN codec (browan_tabs.json verified output)', () => {
  it('reads status as occupancy and battery as volts with the browan_tabs hint', () => {
    // TheThingsNetwork/lorawan-devices vendor/browan/tbms100.js output for 01BB340400DC7801.
    const object = { status: 1, battery: 3.6, temperatureBoard: 20, time: 4, count: 96476 };
    const uplink = expectOk(decodeNetworkObject(object, { decoder: 'browan_tabs' }));
    expect(uplink.measurements).toEqual({ occupied: true, batteryVoltage: 3.6, temperatureC: 20 });
    expect(uplink.extra).toEqual({ time: 4, count: 96476 });
  });

  it('takes a fractional battery below 5 as volts when no decoder is named', () => {
    expect(expectOk(decodeNetworkObject({ battery: 3.6 })).measurements).toEqual({ batteryVoltage: 3.6 });
    expect(expectOk(decodeNetworkObject({ battery: 92 })).measurements).toEqual({ batteryPercent: 92 });
  });
});

describe('Qalcosonic W1 objects from the TTN codecs (qalcosonic_w1.json verified outputs)', () => {
  const vectors = loadVectors('qalcosonic_w1.json');
  const byHex = (hex: string) => {
    const found = vectors.find((v) => v.input.hex !== undefined && vectorHex(v) === hex);
    if (!found) throw new Error(`no vector ${hex}`);
    return found;
  };

  it('maps the enhanced codec output (vendor/axioma/qalcosonic-w1-codec.js) like the byte decoder', () => {
    const hex = '01aeac986a003217000000000000000000008003800054000e4005100048000240020000200000000000000000000000000000';
    const object = codecOutput(byHex(hex), 'ttn_vendor/axioma/qalcosonic-w1-codec.js');
    const fromObject = expectOk(decodeNetworkObject(object, { decoder: 'qalcosonic_w1' }));
    const fromBytes = expectOk(qalcosonicW1({ bytes: hexBytes(hex), fPort: 100 }));
    expect(fromObject.measurements.volumeM3).toBe(fromBytes.measurements.volumeM3);
    expect(fromObject.measurements.meterValue).toBe(6.054);
    expect(fromObject.measurements.deviceTime).toEqual(fromBytes.measurements.deviceTime);
  });

  it('maps the extended codec output (vendor/axioma/qalcosonic.js) with status alarms like the byte decoder', () => {
    const hex = '0ea0355d302935000054c0345de7290000b800b900b800b800b800b900b800b800b800b800b800b800b900b900b900';
    const object = codecOutput(byHex(hex), 'ttn_vendor/axioma/qalcosonic.js');
    const fromObject = expectOk(decodeNetworkObject(object, { decoder: 'qalcosonic_w1' }));
    const fromBytes = expectOk(qalcosonicW1({ bytes: hexBytes(hex), fPort: 100 }));
    expect(fromObject.measurements).toEqual(fromBytes.measurements);
    expect(fromObject.extra).toHaveProperty('delta_volumes');
  });
});

describe('network codec objects: bad input and the config switch', () => {
  it('refuses something that is not an object', () => {
    expect(expectError(decodeNetworkObject(['battery'] as unknown as Record<string, unknown>)).code).toBe('invalid_frame');
  });

  it('refuses an empty object', () => {
    expect(expectError(decodeNetworkObject({})).code).toBe('empty_payload');
  });

  it('is used only when the device config says useNetworkCodec: true', () => {
    expect(usesNetworkCodec({ useNetworkCodec: true })).toBe(true);
    expect(usesNetworkCodec({ useNetworkCodec: 'yes' })).toBe(false);
    expect(usesNetworkCodec(undefined)).toBe(false);
  });

  it('gives a decoded uplink or a typed DecodeError for any JSON value, never an exception', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.object(), fc.jsonValue(), fc.dictionary(fc.constantFrom('battery', 'pulse', 'modbus_chn_1', 'history', 'status', 'water', 'water_conv', 'pulse_conv'), fc.jsonValue())),
        fc.constantFrom(undefined, 'milesight_em300_di', 'milesight_uc100', 'browan_tabs', 'qalcosonic_w1'),
        fc.option(fc.record({ pulsesPerUnit: fc.jsonValue(), channels: fc.jsonValue() }, { requiredKeys: [] }), { nil: undefined }),
        (object, decoder, config) => {
          const options = { ...(decoder ? { decoder } : {}), ...(config ? { config } : {}) };
          assertWellFormed(decodeNetworkObject(object as Record<string, unknown>, options));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
