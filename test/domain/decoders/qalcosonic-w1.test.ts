// Axioma Qalcosonic W1 decoder against the public vectors (test/fixtures/vectors/qalcosonic_w1.json,
// sources cited per test) and the real-meter frames in diwise/iot-agent's tests.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { qalcosonicW1, w1StatusAlarms } from '#domain/decoders/qalcosonic-w1';
import { assertWellFormed, expectError, expectOk, hexBytes, loadVectors, vectorHex } from './vectors.ts';

const vectors = loadVectors('qalcosonic_w1.json');
const vector = (hex: string) => {
  const found = vectors.find((v) => vectorHex(v) === hex);
  if (!found) throw new Error(`no vector ${hex}`);
  return found;
};
const decode = (fPort: number, hex: string, config?: Record<string, unknown>) => qalcosonicW1({ bytes: hexBytes(hex), fPort, ...(config ? { config } : {}) });
const sorted = (alarms: string[] | undefined) => [...(alarms ?? [])].sort();

const EXTENDED = '0ea0355d302935000054c0345de7290000b800b900b800b800b800b900b800b800b800b800b800b800b900b900b900';
const ENHANCED = '01aeac986a003217000000000000000000008003800054000e4005100048000240020000200000000000000000000000000000';

describe('W1 extended frame (47 bytes, no temperature)', () => {
  const source = vector(EXTENDED).source;

  it(`gives current volume, meter time and status alarms — ${source}`, () => {
    // Prepare / Act
    const uplink = expectOk(decode(100, EXTENDED));
    // Assess: ELEMENT's last record: 13.609 m3 at 2019-07-22T11:37:50Z; status 0x30 = leakage + dry/temporary error.
    expect(uplink.frameType).toBe('extended');
    expect(uplink.measurements.volumeM3).toBe(13.609);
    expect(uplink.measurements.meterValue).toBe(13.609);
    expect(uplink.measurements.deviceTime).toEqual(new Date('2019-07-22T11:37:50Z'));
    expect(sorted(uplink.measurements.alarms)).toEqual(['leakage', 'temporary_error']);
    expect(uplink.measurements.temperatureC).toBeUndefined();
  });

  it(`gives the hourly log as history, log time floored to the hour — ${source}`, () => {
    const uplink = expectOk(decode(100, EXTENDED));
    const expected = elementRecords(vector(EXTENDED).expected).slice(0, 16);
    expect(uplink.history).toHaveLength(16);
    uplink.history?.forEach((point, i) => {
      expect(point.time.toISOString()).toBe(new Date(expected[i]?.timestamp ?? '').toISOString());
      expect(point.measurements.volumeM3).toBeCloseTo(expected[i]?.volume ?? NaN, 9);
    });
  });

  it('agrees with diwise/iot-agent TestQalcosonic_w1e: 16 volumes, status 48, 13609 L, 13.492 m3 after the last delta', () => {
    const uplink = expectOk(decode(100, EXTENDED));
    expect(uplink.history).toHaveLength(16);
    expect(uplink.extra.status).toBe(48);
    expect(uplink.measurements.volumeM3).toBe(13.609);
    expect(uplink.history?.[15]?.measurements.volumeM3).toBe(13.492);
  });

  it('reads the real packet in ZennerIoT/element-parsers lib/axioma_qalcosonic.ex (meter 00070900004D6907)', () => {
    const uplink = expectOk(decode(100, '41643A5E1077010000F086395E77010000000000000000000000000000000000000000000000000000000000000000'));
    expect(uplink.frameType).toBe('extended');
    expect(uplink.measurements.volumeM3).toBe(0.375);
    expect(uplink.measurements.deviceTime).toEqual(new Date('2020-02-05T06:44:17Z'));
    expect(uplink.history?.[0]?.time).toEqual(new Date('2020-02-04T15:00:00Z'));
    expect(uplink.history?.at(-1)?.time).toEqual(new Date('2020-02-05T06:00:00Z'));
    // 0x10 alone: ELEMENT "dry_or_temporary_error", diwise "Temporary error" + "Empty spool".
    expect(uplink.measurements.alarms).toEqual(['temporary_error', 'pipe_empty']);
  });
});

/** ELEMENT's expected records: [{timestamp, volume}, ...]. */
const elementRecords = (expected: unknown) => z.array(z.looseObject({ timestamp: z.string(), volume: z.number() })).parse(expected);

describe('W1 extended frame with temperature (47 bytes)', () => {
  // diwise/iot-agent internal/pkg/application/decoders/qalcosonic/decoder.qalcosonic_test.go, TestQalcosonic_w1t.
  const W1T = '55cb585f7cf29d0400120ae0fe575f8a570400cd04cb04cc04cd04ca04c404c504c404f004e604dc04d604b9057905';

  it('is told from the layout without temperature by its log time (diwise TestQalcosonic_w1t: 25.78 °C, 15 volumes, 302578 L)', () => {
    const uplink = expectOk(decode(100, W1T));
    expect(uplink.frameType).toBe('extended_temperature');
    expect(uplink.measurements.temperatureC).toBe(25.78);
    expect(uplink.history).toHaveLength(15);
    expect(uplink.measurements.volumeM3).toBe(302.578);
    expect(uplink.warnings).toEqual([]);
  });

  // diwise TestDecodeW1t: 22 frames from three real meters, Aug–Oct 2025, all with temperature.
  const realFrames = [
    '3883B268007BB06B008D0560B2B1681F806B00A50465067E06B706BB03A6028501AC00620053006300CF014E03A604',
    'F94AB26800F8A16B002006207AB16871716B00370325036103F104A50465067E06B706BB03A6028501AC0062005300',
    'B912B2680019A06B00AF05E041B16805646B00C202A10272039704370325036103F104A50465067E06B706BB03A602',
    '78DAB16800B9906B00AE05A009B1682F526B007003B104C805ED03C202A10272039704370325036103F104A5046506',
    '38A2B16800A57A6B00940560D1B068CD4F6B0058005900610050017003B104C805ED03C202A1027203970437032503',
    'F869B16800296C6B009C052099B0687A466B003704EF029701960058005900610050017003B104C805ED03C202A102',
    'B731B16800285F6B009905E060B068BC2B6B001A0649072E082D053704EF029701960058005900610050017003B104',
    '76F9B06800D4506B001706A028B06866176B005604EC046204B2061A0649072E082D053704EF029701960058005900',
    '37C1B06800194F6B00CC0560F0AF68BBFE6A009105F9065D07C4045604EC046204B2061A0649072E082D053704EF02',
    'F788B06800BC3F6B00C70520B8AF683BF26A00DF0036024F031C069105F9065D07C4045604EC046204B2061A064907',
    'B2BC9E680034CF6600B506E0EB9D68689D6600CE05A007AA050B052B04FF0222017D0098007E0065004A010304BD05',
    '70849E6800BDBF6600FF06A0B39D68EC8766003504C30500068405CE05A007AA050B052B04FF0222017D0098007E00',
    '304C9E6800C5BD6600DB06607B9D681C74660003053805DF04B6043504C30500068405CE05A007AA050B052B04FF02',
    'EF139E6800DAAF6600C20620439D68006A66000601B4016003020403053805DF04B6043504C30500068405CE05A007',
    'AFDB9D680020976600C706E00A9D68AE676600EA00910058007F000601B4016003020403053805DF04B6043504C305',
    '6EA39D68005A826600CA06A0D29C686C5E66007B039402C4016F01EA00910058007F000601B4016003020403053805',
    '2F6B9D6800916F6600D006609A9C681E4E6600C504DF03ED04BD027B039402C4016F01EA00910058007F000601B401',
    '0681E8680094760D008305D0B1E768DC6B0D00AA00F3001B017801CF017D011801390146002A004300160005000800',
    '41D8E768003A6E0D0056051009E7687F640D000400040035002F0184017301BE009B00500063004400AA00AA00F300',
    'BE67E7680074690D0062059098E668235E0D007B016501E801F100710027000A0001000400040035002F0184017301',
    '7D2FE7680096640D0076055060E6681D590D00AA000301510108027B016501E801F100710027000A00010004000400',
    'F9BEE668007D620D006005D0EFE56809530D003602E3007C00CD008700490086005C00AA000301510108027B016501',
  ];

  it('recognises all 22 real frames of diwise TestDecodeW1t as the temperature layout, with volumes that never go down', () => {
    for (const hex of realFrames) {
      const uplink = expectOk(decode(100, hex));
      expect(uplink.frameType, hex).toBe('extended_temperature');
      expect(uplink.measurements.temperatureC, hex).toBeGreaterThan(0);
      expect(uplink.measurements.temperatureC, hex).toBeLessThan(40);
      const volumes = (uplink.history ?? []).map((p) => p.measurements.volumeM3 ?? NaN);
      expect(volumes, hex).toHaveLength(15);
      volumes.forEach((v, i) => i > 0 && expect(v).toBeGreaterThanOrEqual(volumes[i - 1] ?? Infinity));
      expect(uplink.measurements.volumeM3 ?? 0).toBeGreaterThanOrEqual(volumes.at(-1) ?? Infinity);
    }
  });

  it('follows config.w1Layout when it is set, without guessing', () => {
    const forced = expectOk(decode(100, W1T, { w1Layout: 'extended' }));
    expect(forced.frameType).toBe('extended');
    expect(forced.measurements.temperatureC).toBeUndefined();
    const withTemperature = expectOk(decode(100, EXTENDED, { w1Layout: 'extended_temperature' }));
    expect(withTemperature.frameType).toBe('extended_temperature');
  });

  it('refuses a frame it cannot place in either layout, asking for config.w1Layout', () => {
    const error = expectError(decode(100, '00'.repeat(47)));
    expect(error.code).toBe('invalid_frame');
    expect(error.message).toMatch(/w1Layout/);
    expect(expectOk(decode(100, '00'.repeat(47), { w1Layout: 'extended' })).measurements.volumeM3).toBe(0);
  });

  it('warns about an invalid w1Layout and falls back to auto', () => {
    const uplink = expectOk(decode(100, W1T, { w1Layout: 'sideways' }));
    expect(uplink.frameType).toBe('extended_temperature');
    expect(uplink.warnings.join(' ')).toMatch(/w1Layout/);
  });
});

describe('W1 enhanced 24 h frame (51 bytes)', () => {
  const source = vector(ENHANCED).source;

  it(`unpacks 23 hourly 14-bit deltas onto the log volume — ${source}`, () => {
    // Prepare / Act
    const uplink = expectOk(decode(100, ENHANCED));
    // Assess: the TTN codec example (real meter, "Lackova").
    expect(uplink.frameType).toBe('enhanced_24h');
    expect(uplink.extra.deltasLitres).toEqual([0, 0, 0, 0, 0, 14, 8, 21, 14, 21, 1, 18, 2, 9, 0, 8, 0, 0, 0, 0, 0, 0, 0]);
    expect(uplink.extra.logVolumeM3).toBe(5.938);
    expect(uplink.extra.historyMultiplier).toBe(0);
    expect(uplink.measurements.volumeM3).toBe(6.054);
    expect(uplink.measurements.deviceTime).toEqual(new Date('2026-09-02T23:09:34.000Z'));
    expect(uplink.measurements.alarms).toEqual([]);
    expect(uplink.history).toHaveLength(24);
  });

  it('agrees with diwise TestQalcosonic_w1h: status 48, 573662 L, 560.639 m3 at the 17th point', () => {
    const uplink = expectOk(decode(100, '011fbfd05e30cd0f0800d4879e41865c1b42470d7283b8201608fec181981dd007f3919460218247b631784c1c9e87b8e17600'));
    expect(uplink.extra.status).toBe(48);
    expect(uplink.measurements.volumeM3).toBe(573.662);
    expect(uplink.history?.[16]?.measurements.volumeM3).toBe(560.639);
    // diwise's timing: the log is 01:00 UTC of the previous day, the last delta 00:00 of the frame's day.
    expect(uplink.history?.[0]?.time).toEqual(new Date('2020-05-28T01:00:00Z'));
    expect(uplink.history?.at(-1)?.time).toEqual(new Date('2020-05-29T00:00:00Z'));
  });

  it(`refuses an unknown frame version — ${vector('ef4c4fa8e11b84db6921ef65e7ccd2d97057283ff3993d722af6de1c706042c7da23673de561223134d3cfbef1f44449eb06b0').source}`, () => {
    const error = expectError(decode(100, 'ef4c4fa8e11b84db6921ef65e7ccd2d97057283ff3993d722af6de1c706042c7da23673de561223134d3cfbef1f44449eb06b0'));
    expect(error.code).toBe('invalid_frame');
    expect(error.message).toMatch(/0xef/);
  });
});

describe('W1 alarm and configuration frames', () => {
  it(`maps alarm bits — ${vector('43b1315d30').source}`, () => {
    const uplink = expectOk(decode(103, '43b1315d30'));
    expect(uplink.frameType).toBe('alarm');
    expect(uplink.measurements).toEqual({ deviceTime: new Date('2019-07-19T12:02:11Z'), alarms: ['no_consumption', 'backflow'] });
  });

  it(`keeps bits no source names — ${vector('43b1315d88').source}`, () => {
    const uplink = expectOk(decode(103, '43b1315d88'));
    expect(uplink.measurements.alarms).toEqual(['tamper', 'unknown_alarm_bit_7']);
    expect(uplink.extra.alarmCode).toBe(136);
  });

  it('keeps configuration frames as hex (ELEMENT test packet; its document describes fPort 101 wrongly)', () => {
    const uplink = expectOk(decode(101, '04FF891331FD17041344FF891344134D931E206201'));
    expect(uplink.frameType).toBe('config');
    expect(uplink.extra.configHex).toBe('04ff891331fd17041344ff891344134d931e206201');
    expect(uplink.measurements).toEqual({});
  });
});

describe('W1 status byte', () => {
  it('reads bits 5–7 as one error code (Axioma W1 Extended V01.7 as ELEMENT reads it)', () => {
    expect(w1StatusAlarms(0x60)).toEqual(['backflow']);
    expect(w1StatusAlarms(0x80)).toEqual(['freeze']);
    expect(w1StatusAlarms(0xa0)).toEqual(['burst']);
    expect(w1StatusAlarms(0x0c)).toEqual(['low_battery', 'permanent_error']);
    expect(w1StatusAlarms(0x00)).toEqual([]);
  });
});

describe('W1 bad input', () => {
  it('refuses other ports', () => {
    expect(expectError(decode(1, '00')).code).toBe('unsupported_fport');
  });
  it('refuses short volume frames', () => {
    expect(expectError(decode(100, '0ea0355d3029350000')).code).toBe('truncated');
  });
  it('refuses short and long alarm frames', () => {
    expect(expectError(decode(103, '43b1315d')).code).toBe('truncated');
    expect(expectError(decode(103, '43b1315d3000')).code).toBe('invalid_frame');
  });
  it('refuses an empty payload', () => {
    expect(expectError(decode(100, '')).code).toBe('empty_payload');
  });
});

describe('W1 properties', () => {
  it('gives a decoded uplink or a typed DecodeError for any bytes and fPort, never an exception', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.oneof(fc.constantFrom(100, 101, 103), fc.integer({ min: 0, max: 255 })),
        fc.option(fc.record({ w1Layout: fc.constantFrom('auto', 'extended', 'extended_temperature', 'bogus') }), { nil: undefined }),
        (bytes, fPort, config) => {
          assertWellFormed(qalcosonicW1({ bytes, fPort, ...(config ? { config } : {}) }));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('decodes every 47-byte frame when the layout is configured', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 47, maxLength: 47 }), fc.constantFrom('extended', 'extended_temperature'), (bytes, w1Layout) => {
        expect(qalcosonicW1({ bytes, fPort: 100, config: { w1Layout } }).ok).toBe(true);
      }),
    );
  });
});
