// Browan TABS TBMS100 decoder against test/fixtures/vectors/browan_tabs.json (sources cited per test)
// and the other motion example in ZENNER's ELEMENT parser.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { browanTabs } from '#domain/decoders/browan-tabs';
import { assertWellFormed, expectError, expectOk, hexBytes, loadVectors, vectorHex } from './vectors.ts';

const vectors = loadVectors('browan_tabs.json');
const sourceOf = (hex: string): string => vectors.find((v) => v.input.hex !== undefined && vectorHex(v) === hex)?.source ?? 'missing vector';
const decode = (hex: string, fPort = 102) => browanTabs({ bytes: hexBytes(hex), fPort });

describe('TBMS100 vectors', () => {
  it(`reads an occupied frame with full battery, -26 °C, 3788 events — ${sourceOf('01fb060000cc0e00')}`, () => {
    // Prepare / Act
    const uplink = expectOk(decode('01FB060000CC0E00'));
    // Assess: ELEMENT battery_state 100 % (capacity nibble 0xF), 3.6 V; TTN agrees on status, V, temperature, count; time 0.
    expect(uplink.measurements).toEqual({ occupied: true, batteryVoltage: 3.6, batteryPercent: 100, temperatureC: -26 });
    expect(uplink.extra).toEqual({ minutesSinceLastEvent: 0, eventCount: 3788 });
  });

  it(`reads the TTN "Occupied" example — ${sourceOf('01bb340400dc7801')}`, () => {
    const uplink = expectOk(decode('01BB340400DC7801'));
    // TTN: status 1, battery 3.6 V, temperatureBoard 20, time 4, count 96476; capacity nibble 0xB → 73.3 % per TABS v1.3.
    expect(uplink.measurements).toEqual({ occupied: true, batteryVoltage: 3.6, batteryPercent: 73.3, temperatureC: 20 });
    expect(uplink.extra).toEqual({ minutesSinceLastEvent: 4, eventCount: 96476 });
  });

  it('covers every vector with bytes in browan_tabs.json (the third is the format description)', () => {
    expect(vectors.filter((v) => v.input.hex !== undefined).map(vectorHex)).toEqual(['01fb060000cc0e00', '01bb340400dc7801']);
  });

  it('reads a free frame (ZennerIoT/element-parsers lib/tabs.ex tests_motion, second example)', () => {
    const uplink = expectOk(decode('00FB340500AB0D00'));
    expect(uplink.measurements).toEqual({ occupied: false, batteryVoltage: 3.6, batteryPercent: 100, temperatureC: 20 });
    expect(uplink.extra).toEqual({ minutesSinceLastEvent: 5, eventCount: 3499 });
  });

  it('ignores the RFU bits of the status and temperature bytes (motionsensor-codec.yaml format description)', () => {
    const uplink = expectOk(decode('FEFBB40500AB0D00'));
    expect(uplink.measurements.occupied).toBe(false);
    expect(uplink.measurements.temperatureC).toBe(20);
  });
});

describe('TBMS100 bad input', () => {
  it('refuses other ports (TTN tbms100-codec.yaml "Unknown FPort" example)', () => {
    expect(expectError(decode('01', 42)).code).toBe('unsupported_fport');
  });
  it('refuses short and long frames', () => {
    expect(expectError(decode('01FB060000CC0E')).code).toBe('truncated');
    expect(expectError(decode('01FB060000CC0E0000')).code).toBe('invalid_frame');
  });
  it('refuses an empty payload', () => {
    expect(expectError(decode('')).code).toBe('empty_payload');
  });
});

describe('TBMS100 properties', () => {
  it('gives a decoded uplink or a typed DecodeError for any bytes and fPort, never an exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.oneof(fc.constant(102), fc.integer({ min: 0, max: 255 })), (bytes, fPort) => {
        assertWellFormed(browanTabs({ bytes, fPort }));
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes every 8-byte frame on fPort 102 within the sensor ranges', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (bytes) => {
        const { measurements } = expectOk(browanTabs({ bytes, fPort: 102 }));
        expect(measurements.batteryVoltage).toBeGreaterThanOrEqual(2.5);
        expect(measurements.batteryVoltage).toBeLessThanOrEqual(4);
        expect(measurements.temperatureC).toBeGreaterThanOrEqual(-32);
        expect(measurements.temperatureC).toBeLessThanOrEqual(95);
      }),
    );
  });
});
