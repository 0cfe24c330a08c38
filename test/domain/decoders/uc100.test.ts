// Milesight UC100 decoder: channel frames against test/fixtures/vectors/uc100.json (sources cited per
// test), Eastron SDM320C/SDM630 readings mapped through config (values from eastron_sdm.json), history,
// the v2 protocol, and the pass-through port carrying raw Modbus RTU responses.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { uc100 } from '#domain/decoders/uc100';
import { crc16Modbus } from '#domain/decoders/modbus-response';
import { assertWellFormed, expectError, expectOk, hexBytes, loadVectors, vectorHex } from './vectors.ts';

const vectors = loadVectors('uc100.json');
const decode = (hex: string, config?: Record<string, unknown>, fPort = 85) => uc100({ bytes: hexBytes(hex), fPort, ...(config ? { config } : {}) });
const sourceOf = (hex: string): string => vectors.find((v) => v.input.hex !== undefined && vectorHex(v) === hex)?.source ?? 'missing vector';

describe('UC100 uplink vectors (test/fixtures/vectors/uc100.json)', () => {
  it(`reads Modbus channel 8 = 21 (0-based id 07, Hold16) — ${sourceOf('ff190702031500')}`, () => {
    // Prepare / Act
    const uplink = expectOk(decode('ff190702031500'));
    // Assess: unmapped, the raw value is kept by its 1-based channel number.
    expect(uplink.frameType).toBe('periodic');
    expect(uplink.extra.channels).toEqual({ '8': 21 });
    expect(uplink.measurements).toEqual({});
  });

  it(`reads the power-on report — ${sourceOf('ff0bff')}`, () => {
    const uplink = expectOk(decode('ff0bff'));
    expect(uplink.frameType).toBe('device_info');
    expect(uplink.extra).toEqual({ powerOn: true });
  });

  it(`reads a change alarm on channel 3 with value 5 (guide "Change alarm", decoder "mutation alarm") — ${sourceOf('ffeec202030500')}`, () => {
    const uplink = expectOk(decode('ffeec202030500'));
    expect(uplink.frameType).toBe('alarm');
    expect(uplink.extra.channels).toEqual({ '3': 5 });
    expect(uplink.measurements.alarms).toEqual(['channel_3_change_alarm']);
  });

  it(`reads the v2 basic information frame — ${sourceOf('ff0bffff0101ffff0201ff166445b43411300001ff090200ff0a0101ff0f02')}`, () => {
    const uplink = expectOk(decode('ff0bff ff0101 ffff0201 ff166445b43411300001 ff090200 ff0a0101 ff0f02'));
    // TSL bytes 02 01 read v2.1 as the decoder does (the page's "V1.1" annotation contradicts its own bytes).
    expect(uplink.extra).toEqual({
      powerOn: true,
      protocolVersion: 1,
      tslVersion: 'v2.1',
      serialNumber: '6445b43411300001',
      hardwareVersion: 'v2.0',
      firmwareVersion: 'v1.1',
      lorawanClass: 'Class C',
    });
  });

  it('reads the history-enquiry reply FC 6C 00 (UC100 User Guide V1.2 p.30)', () => {
    expect(expectOk(decode('fc6c00')).extra.historyEnquiryResult).toBe(0);
  });

  // Guide pp.25–26 byte-order table: registers 0 = 00 15, 1 = 00 20; the device assembles the value in the
  // configured order and uplinks it little-endian.
  const typeCodes: Record<string, number> = {
    'Holding/Input Register (INT16)': 0x03,
    'Holding/Input Register (INT32)': 0x04,
    'Holding/Input Register (INT32 with upper 16 bits)': 0x0a,
  };
  for (const vector of vectors.filter((v) => v.input.data_type !== undefined)) {
    const input = z.looseObject({ data_type: z.string(), byte_order: z.string() }).parse(vector.input);
    const expected = z.looseObject({ fetch_result: z.string(), uplink_value_hex: z.string() }).parse(vector.expected);
    it(`reads ${input.data_type} ${input.byte_order} = ${expected.fetch_result} — ${vector.source}`, () => {
      const value = hexBytes(expected.uplink_value_hex.split('(')[0] ?? '');
      const type = typeCodes[input.data_type];
      expect(type).toBeDefined();
      const frame = Uint8Array.from([0xff, 0x19, 0x00, value.length, type ?? 0xff, ...value]);
      const uplink = expectOk(uc100({ bytes: frame, fPort: 85 }));
      expect(uplink.extra.channels).toEqual({ '1': Number(/^\d+/.exec(expected.fetch_result)?.[0]) });
    });
  }

  it('leaves the downlink vectors to the encoder (not uplinks)', () => {
    expect(vectors.filter((v) => z.looseObject({ direction: z.string() }).parse(v).direction === 'downlink')).toHaveLength(3);
  });
});

// Eastron values (float32 big-endian on the meter, KBR vector in eastron_sdm.json: 43 6B 5A B4 = 235.35 V,
// 42 DC 67 20 = 110.20 A, 42 48 0C 63 = 50.012 Hz) as the UC100 uplinks them: Float ABCD channels, value LE.
const eastronFrame = [
  'ff19 00 04 07 b45a6b43', // channel 1, input float: 235.35 V
  'ff19 01 04 07 2067dc42', // channel 2, input float: 110.20 A
  'ff19 02 04 07 630c4842', // channel 3, input float: 50.012 Hz
  'ff19 03 04 07 00509a44', // channel 4, input float: 1234.5 (constructed)
].join('');

describe('Eastron meters through UC100 channels: the register layout is configuration', () => {
  it('maps an SDM320C channel set (V, A, Hz, import kWh) and takes meterValue from energyImportKwh', () => {
    // Prepare
    const config = { channels: { '1': 'voltageV', '2': 'currentA', '3': 'frequencyHz', '4': 'energyImportKwh' } };
    // Act
    const uplink = expectOk(decode(eastronFrame, config));
    // Assess
    expect(uplink.measurements).toEqual({ voltageV: 235.3543, currentA: 110.2014, frequencyHz: 50.0121, energyImportKwh: 1234.5, meterValue: 1234.5 });
  });

  it('maps the same frame differently for a device configured another way (SDM630 phase-1 channels, export energy)', () => {
    const config = { channels: { '1': 'voltageV', '2': 'currentA', '4': 'energyExportKwh' }, meterValueField: 'energyExportKwh' };
    const uplink = expectOk(decode(eastronFrame, config));
    expect(uplink.measurements).toEqual({ voltageV: 235.3543, currentA: 110.2014, energyExportKwh: 1234.5, meterValue: 1234.5 });
    expect(uplink.extra.channels).toMatchObject({ '3': 50.0121 });
  });

  it('applies a scale to integer registers', () => {
    // Hold16 2307 (0x0903) at 0.1 V per count.
    const uplink = expectOk(decode('ff19 00 02 03 0309', { channels: { '1': { field: 'voltageV', scale: 0.1 } } }));
    expect(uplink.measurements.voltageV).toBe(230.7);
  });

  it('reads signed values when the sign bit is set (guide V1.3 "sign type")', () => {
    expect(expectOk(decode('ff19 00 02 83 ffff')).extra.channels).toEqual({ '1': -1 });
  });

  it('warns about a bad channel map and still reports the raw values', () => {
    const uplink = expectOk(decode(eastronFrame, { channels: { one: 'voltageV' } }));
    expect(uplink.measurements).toEqual({});
    expect(uplink.extra.channels).toMatchObject({ '1': 235.3543 });
    expect(uplink.warnings.join(' ')).toMatch(/config\.channels ignored/);
  });

  it('reports a failed read as an alarm (0xFF 0x15)', () => {
    expect(expectOk(decode('ff1502')).measurements.alarms).toEqual(['channel_3_read_error']);
  });
});

describe('UC100 history and protocol v2', () => {
  // Layouts from Milesight-IoT/SensorDecoders uc-series/uc100 and uc100-v2 decoders; timestamps from the guide's p.30 enquiry.
  const config = { channels: { '1': 'voltageV', '2': 'currentA' } };

  it('merges v1 history records of one poll into one point (0x20 0xCE)', () => {
    const uplink = expectOk(decode('20ce fcd6a865 00 2a b45a6b43 20ce fcd6a865 01 2a 2067dc42', config));
    expect(uplink.frameType).toBe('history');
    expect(uplink.history).toEqual([
      { time: new Date(1705563900 * 1000), measurements: { voltageV: 235.3543, currentA: 110.2014 }, extra: { channels: { '1': 235.3543, '2': 110.2014 } } },
    ]);
  });

  it('marks a history record whose read failed', () => {
    const uplink = expectOk(decode('20ce fcd6a865 00 28 00000000'));
    expect(uplink.history?.[0]?.measurements.alarms).toEqual(['channel_1_read_error']);
  });

  it('reads v2 channel values and alarms (0xF9 0x73)', () => {
    const uplink = expectOk(decode('f973 00 07 b45a6b43 f973 42 03 1500', config));
    expect(uplink.measurements.voltageV).toBe(235.3543);
    expect(uplink.extra.channels).toEqual({ '1': 235.3543, '3': 21 });
    expect(uplink.measurements.alarms).toEqual(['channel_3_threshold_alarm']);
  });

  it('reads v2 history (0x21 0xCE)', () => {
    const uplink = expectOk(decode('21ce fcd6a865 00 4015 b45a6b4300000000 0000000000000000', config));
    expect(uplink.history?.[0]?.measurements).toEqual({ voltageV: 235.3543 });
  });

  it('keeps custom messages sent by IF-THEN rules', () => {
    const uplink = expectOk(decode('48656c6c6f'));
    expect(uplink.frameType).toBe('custom_message');
    expect(uplink.extra.customMessage).toBe('Hello');
  });

  it('reads the v2 Modbus settings report and warns when its pass-through port differs from config (encoder example: port 52)', () => {
    const uplink = expectOk(decode('f979 e803 e803 03 11 34'));
    expect(uplink.extra.modbusConfig).toEqual({
      execIntervalMs: 1000,
      maxResponseTimeMs: 1000,
      retryTimes: 3,
      passThroughEnabled: true,
      passThroughDirection: 'bidirectional',
      passThroughPort: 52,
    });
    expect(uplink.warnings.join(' ')).toMatch(/fPort 52.*passThroughFPort is 5/);
  });
});

describe('UC100 pass-through port: raw Modbus RTU responses', () => {
  it('decodes the SDM320C relay-OFF echo on the default port 5 (seed relay-control-plan.md)', () => {
    // Prepare / Act
    const uplink = expectOk(decode('01 05 00 00 00 00 CD CA', undefined, 5));
    // Assess
    expect(uplink.frameType).toBe('modbus_response');
    expect(uplink.modbusResponse).toEqual({ slaveId: 1, functionCode: 5, frameHex: '010500000000cdca', crcValid: true, coil: { address: 0, on: false } });
    expect(uplink.measurements).toEqual({});
  });

  it('follows config.passThroughFPort', () => {
    expect(expectOk(decode('01 05 00 00 FF 00 8C 3A', { passThroughFPort: 52 }, 52)).modbusResponse?.coil).toEqual({ address: 0, on: true });
    expect(expectError(decode('01 05 00 00 FF 00 8C 3A', { passThroughFPort: 52 }, 5)).code).toBe('unsupported_fport');
  });

  it('names exception responses', () => {
    const body = hexBytes('01 85 02');
    const crc = crc16Modbus(body);
    const uplink = expectOk(uc100({ bytes: Uint8Array.from([...body, crc & 0xff, crc >> 8]), fPort: 5 }));
    expect(uplink.frameType).toBe('modbus_exception');
    expect(uplink.modbusResponse?.exceptionCode).toBe(2);
    expect(uplink.extra.exception).toBe('illegal_data_address');
  });

  it('returns register words of a read reply (KBR FC04 reply in eastron_sdm.json)', () => {
    const uplink = expectOk(decode('01 04 0C 43 6B 5A B4 42 DC 67 20 42 48 0C 63 AF 7C', undefined, 5));
    expect(uplink.extra.registers).toEqual([0x436b, 0x5ab4, 0x42dc, 0x6720, 0x4248, 0x0c63]);
  });

  it('refuses bytes on the pass-through port that are not a Modbus response', () => {
    expect(expectError(decode('ff0bff', undefined, 5)).code).toBe('invalid_frame');
  });

  it('ignores a pass-through port equal to the application port, with a warning', () => {
    const uplink = expectOk(decode('ff190702031500', { passThroughFPort: 85 }));
    expect(uplink.extra.channels).toEqual({ '8': 21 });
    expect(uplink.warnings.join(' ')).toMatch(/passThroughFPort/);
  });
});

describe('UC100 bad input', () => {
  it('refuses an empty payload', () => {
    expect(expectError(decode('')).code).toBe('empty_payload');
  });
  it('refuses other ports', () => {
    expect(expectError(decode('ff0bff', undefined, 10)).code).toBe('unsupported_fport');
  });
  it('reports a channel cut short', () => {
    expect(expectError(decode('ff19070203')).code).toBe('truncated');
  });
  it('refuses an unknown data type it cannot size (v2)', () => {
    expect(expectError(decode('f973 00 1f 00')).code).toBe('invalid_frame');
  });
});

describe('UC100 properties', () => {
  it('gives a decoded uplink or a typed DecodeError for any bytes, fPort and channel map, never an exception', () => {
    const channelMap = fc.dictionary(
      fc.oneof(fc.integer({ min: 1, max: 32 }).map(String), fc.string()),
      fc.oneof(fc.constantFrom('voltageV', 'energyImportKwh', 'nonsense'), fc.record({ field: fc.constantFrom('powerW', 'x'), scale: fc.double() })),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.oneof(fc.constantFrom(85, 5), fc.integer({ min: 0, max: 255 })),
        fc.option(fc.record({ channels: channelMap, passThroughFPort: fc.oneof(fc.integer(), fc.constant(5)) }, { requiredKeys: [] }), { nil: undefined }),
        (bytes, fPort, config) => {
          assertWellFormed(uc100({ bytes, fPort, ...(config ? { config } : {}) }));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('decodes any sequence of well-formed v1 channel values', () => {
    const value = fc.oneof(
      fc.tuple(fc.constantFrom(0, 1), fc.uint8Array({ minLength: 1, maxLength: 1 })),
      fc.tuple(fc.constantFrom(2, 3), fc.uint8Array({ minLength: 2, maxLength: 2 })),
      fc.tuple(fc.constantFrom(4, 5, 6, 7, 8, 9, 10, 11), fc.uint8Array({ minLength: 4, maxLength: 4 })),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 31 }), value), { minLength: 1, maxLength: 5 }), (channels) => {
        const bytes = channels.flatMap(([channel, [type, data]]) => [0xff, 0x19, channel, data.length, type, ...data]);
        const result = uc100({ bytes: Uint8Array.from(bytes), fPort: 85 });
        expect(result.ok).toBe(true);
        assertWellFormed(result);
      }),
    );
  });
});
