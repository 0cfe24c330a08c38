// Milesight EM300-DI decoder against the public vectors (shared/vectors/em300di.json, each test names
// its source) and Milesight's own examples, plus the decisions where the sources disagree.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { em300di } from '#domain/decoders/em300di';
import { assertWellFormed, expectError, expectOk, hexBytes, loadVectors, vectorHex, type Vector } from './vectors.ts';

const vectors = loadVectors('em300di.json');
const decode = (hex: string, config?: Record<string, unknown>) => em300di({ bytes: hexBytes(hex), fPort: 85, ...(config ? { config } : {}) });

// What each vector in em300di.json decodes to, keyed by its hex. Every vector in the file must be here,
// so a vector added to the file fails this test until someone says what it means.
const expectations: Record<string, (vector: Vector) => void> = {
  '01755c05c800010000': () => {
    // Prepare / Act
    const uplink = expectOk(decode('01755c05c800010000'));
    // Assess: battery 92 %, pulse 256 (all decoder versions agree); 256 pulses / 1000 per kWh.
    expect(uplink.measurements).toEqual({ batteryPercent: 92, pulseCount: 256, meterValue: 0.256 });
    expect(uplink.frameType).toBe('periodic');
  },
  '03671e0104689405e10a000a0000005b43': () => {
    const uplink = expectOk(decode('03671e0104689405e10a000a0000005b43'));
    // Guide 5.2.2: temperature 28.6 °C, humidity 74 %, water 219 at water_conv 1 / pulse_conv 1 → 219 pulses.
    expect(uplink.measurements).toEqual({ temperatureC: 28.6, humidityPercent: 74, pulseCount: 219, meterValue: 0.219 });
    expect(uplink.extra).toMatchObject({ waterConv: 1, pulseConv: 1, water: 219 });
  },
  '85e10a000a0000005b4301': () => {
    const uplink = expectOk(decode('85e10a000a0000005b4301'));
    expect(uplink.frameType).toBe('alarm');
    expect(uplink.measurements.alarms).toEqual(['water_outage_timeout']);
    expect(uplink.measurements.pulseCount).toBe(219);
  },
  '21ce0d755b630801570002000a0064003333af41': () => {
    const uplink = expectOk(decode('21ce0d755b630801570002000a0064003333af41'));
    // Guide 5.4: one record at 1666938125, 26.4 °C, 43.5 %, counter mode, water 21.9 at 1 per 10 pulses → 219 pulses.
    expect(uplink.frameType).toBe('history');
    expect(uplink.history).toHaveLength(1);
    const [point] = uplink.history ?? [];
    expect(point?.time).toEqual(new Date(1666938125 * 1000));
    expect(point?.measurements).toEqual({ temperatureC: 26.4, humidityPercent: 43.5, pulseCount: 219, meterValue: 0.219 });
    expect(point?.extra).toMatchObject({ waterConv: 1, pulseConv: 10, water: 21.9 });
  },
  '20ce9e74466310015d010100000000': () => {
    const uplink = expectOk(decode('20ce9e74466310015d010100000000'));
    // Official 0x20 0xCE layout: gpio_type 1 → the GPIO level at offset 8, no counter.
    expect(uplink.history?.[0]).toEqual({
      time: new Date(1665561758 * 1000),
      measurements: { temperatureC: 27.2, humidityPercent: 46.5 },
      extra: { gpio: 'high' },
    });
  },
  '01756406e10a000a0000000000': () => {
    const uplink = expectOk(decode('017564 06E10A000A0000000000'));
    // Decision: the pre-2023-11 channel id 0x06 0xE1 is read like 0x05 0xE1 (current decoders drop it).
    expect(uplink.measurements).toEqual({ batteryPercent: 100, pulseCount: 0, meterValue: 0 });
    expect(uplink.extra).toMatchObject({ waterConv: 1, pulseConv: 1, water: 0 });
  },
  '85e10a0088023393bb4403': () => {
    const uplink = expectOk(decode('85E10A0088023393BB4403'));
    // README: water 1500.60 at pulse_conv 64.8, water flow timeout alarm. Pulses = 1500.6 × 64.8 / 1 ≈ 97239.
    expect(uplink.extra).toMatchObject({ waterConv: 1, pulseConv: 64.8, water: 1500.6 });
    expect(uplink.measurements).toEqual({ pulseCount: 97239, meterValue: 97.239, alarms: ['water_flow_timeout'] });
  },
};

describe('EM300-DI vectors (shared/vectors/em300di.json)', () => {
  it('has an expectation for every vector in the file', () => {
    expect(new Set(vectors.map(vectorHex))).toEqual(new Set(Object.keys(expectations)));
  });

  for (const vector of vectors) {
    const check = expectations[vectorHex(vector)];
    it(`decodes ${vectorHex(vector)} — ${vector.source}`, () => {
      expect(vector.input.fPort).toBe(85);
      check?.(vector);
    });
  }
});

describe('EM300-DI: more public examples', () => {
  it('decodes the README example with a v1 history record (Milesight-IoT/SensorDecoders em-series/em300-di/README.md)', () => {
    // Prepare
    const hex = '01755C 03673401 046865 20CE9E74466310015D020000010000';
    // Act
    const uplink = expectOk(decode(hex));
    // Assess: README output battery 92, temperature 30.8, humidity 50.5, history pulse 256 at 1665561758.
    expect(uplink.measurements).toEqual({ batteryPercent: 92, temperatureC: 30.8, humidityPercent: 50.5 });
    expect(uplink.history).toEqual([
      { time: new Date(1665561758 * 1000), measurements: { temperatureC: 27.2, humidityPercent: 46.5, pulseCount: 256, meterValue: 0.256 }, extra: {} },
    ]);
  });

  it('decodes the codec example (Milesight-IoT/SensorDecoders em-series/em300-di/em300-di-codec.json: battery 92, 30.8 °C, 50.5 %)', () => {
    const uplink = expectOk(decode('01755C03673401046865'));
    expect(uplink.measurements).toEqual({ batteryPercent: 92, temperatureC: 30.8, humidityPercent: 50.5 });
  });

  it('decodes the TTN codec example on fPort 85 (TheThingsNetwork/lorawan-devices vendor/milesight-iot/em300-di-codec.yaml)', () => {
    const uplink = expectOk(em300di({ bytes: Uint8Array.from([0x01, 0x75, 0x5c, 0x05, 0xc8, 0x00, 0x01, 0x00, 0x00]), fPort: 85 }));
    expect(uplink.measurements.batteryPercent).toBe(92);
    expect(uplink.measurements.pulseCount).toBe(256);
  });

  it('reads device attributes into extra (SensorDecoders README attribute table: 0110 → v1.1 hardware, v1.10 firmware)', () => {
    const uplink = expectOk(decode('ff0bff ff0101 ff166136c38549390000 ff090110 ff0a0110 ff0f00'));
    expect(uplink.frameType).toBe('device_info');
    expect(uplink.extra).toEqual({
      powerOn: true,
      protocolVersion: 1,
      serialNumber: '6136c38549390000',
      hardwareVersion: 'v1.1',
      firmwareVersion: 'v1.10',
      lorawanClass: 'Class A',
    });
  });

  it('treats the old 0x86 0xE1 alarm id like 0x85 0xE1', () => {
    const uplink = expectOk(decode('86E10A0088023393BB4403'));
    expect(uplink.measurements.alarms).toEqual(['water_flow_timeout']);
    expect(uplink.measurements.pulseCount).toBe(97239);
  });

  it('reports GPIO alarms', () => {
    const uplink = expectOk(decode('85000101'));
    expect(uplink.measurements.alarms).toEqual(['gpio_alarm']);
    expect(uplink.extra.gpio).toBe('high');
  });
});

describe('EM300-DI configuration', () => {
  it('divides pulses by config.pulsesPerUnit', () => {
    const uplink = expectOk(decode('05c800010000', { pulsesPerUnit: 3200 }));
    expect(uplink.measurements.meterValue).toBe(256 / 3200);
  });

  it('defaults to 1000 pulses per unit, the seed meter', () => {
    expect(expectOk(decode('05c8e8030000')).measurements.meterValue).toBe(1);
  });

  it('withholds meterValue and warns when pulsesPerUnit is invalid, rather than assuming the default', () => {
    const uplink = expectOk(decode('05c800010000', { pulsesPerUnit: 0 }));
    expect(uplink.measurements).toEqual({ pulseCount: 256 });
    expect(uplink.warnings.join(' ')).toMatch(/pulsesPerUnit/);
  });

  it('keeps unrelated registry keys out of the way', () => {
    expect(expectOk(decode('05c800010000', { pulsesPerUnit: 1000, confirmed: false })).measurements.meterValue).toBe(0.256);
  });
});

describe('EM300-DI bad input', () => {
  it('refuses an empty payload', () => {
    expect(expectError(decode('')).code).toBe('empty_payload');
  });

  it('refuses frames on other ports', () => {
    expect(expectError(em300di({ bytes: hexBytes('01755c'), fPort: 2 })).code).toBe('unsupported_fport');
  });

  it('reports a channel cut short as truncated', () => {
    expect(expectError(decode('01755c05c80001')).code).toBe('truncated');
  });

  it('reports a frame that starts with an unknown channel', () => {
    expect(expectError(decode('99990102')).code).toBe('unknown_channel');
  });

  it('keeps what came before an unknown channel, with a warning', () => {
    const uplink = expectOk(decode('01755c 9999 0102'));
    expect(uplink.measurements).toEqual({ batteryPercent: 92 });
    expect(uplink.warnings.join(' ')).toMatch(/unknown channel 0x99 0x99 at offset 3/);
    expect(uplink.extra.undecodedHex).toBe('99990102');
  });

  it('records replies to configuration downlinks', () => {
    const uplink = expectOk(decode('ff03b004'));
    expect(uplink.frameType).toBe('downlink_response');
    expect(uplink.extra.downlinkResponses).toEqual([{ type: '0x03', hex: 'b004' }]);
  });
});

describe('EM300-DI properties', () => {
  it('gives a decoded uplink or a typed DecodeError for any bytes and fPort, never an exception', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.oneof(fc.constant(85), fc.integer({ min: 0, max: 255 })),
        fc.option(fc.record({ pulsesPerUnit: fc.oneof(fc.double(), fc.integer()) }), { nil: undefined }),
        (bytes, fPort, config) => {
          assertWellFormed(em300di({ bytes, fPort, ...(config ? { config } : {}) }));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('decodes any sequence of known channels without error', () => {
    const channel = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 1 }).map((d) => [0x01, 0x75, ...d]),
      fc.uint8Array({ minLength: 2, maxLength: 2 }).map((d) => [0x03, 0x67, ...d]),
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((d) => [0x05, 0xc8, ...d]),
      fc.uint8Array({ minLength: 13, maxLength: 13 }).map((d) => [0x20, 0xce, ...d]),
    );
    fc.assert(
      fc.property(fc.array(channel, { minLength: 1, maxLength: 4 }), (channels) => {
        const result = em300di({ bytes: Uint8Array.from(channels.flat()), fPort: 85 });
        expect(result.ok).toBe(true);
        assertWellFormed(result);
      }),
    );
  });
});
