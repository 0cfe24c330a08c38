// Modbus RTU response parsing for the UC100 pass-through: CRC-16/MODBUS against every frame in
// test/fixtures/vectors/modbus_crc16.json (sources cited per test), and response frames from the
// seed's relay plan, Eastron and relay-board documentation.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { crc16Modbus, hasValidCrc, parseModbusResponse, registersToFloat32BE } from '#domain/decoders/modbus-response';
import { hexBytes, loadVectors, vectorHex } from './vectors.ts';

const withCrc = (hex: string): Uint8Array => {
  const body = hexBytes(hex);
  const crc = crc16Modbus(body);
  return Uint8Array.from([...body, crc & 0xff, crc >> 8]);
};

const parsed = (frame: Uint8Array) => {
  const result = parseModbusResponse(frame);
  if (!result.ok) throw new Error(`expected a parsed response, got ${result.code}: ${result.message}`);
  return result.value;
};

describe('CRC-16/MODBUS (test/fixtures/vectors/modbus_crc16.json)', () => {
  for (const vector of loadVectors('modbus_crc16.json')) {
    const { crc_bytes_on_wire: onWire } = z.looseObject({ crc_bytes_on_wire: z.string() }).parse(vector.expected);
    const expected = hexBytes(onWire.slice(0, 5));
    it(`computes ${onWire.slice(0, 5)} for ${vectorHex(vector)} — ${vector.source}`, () => {
      // Prepare
      const body = hexBytes(vectorHex(vector));
      // Act
      const crc = crc16Modbus(body);
      // Assess: low byte first on the wire.
      expect([crc & 0xff, crc >> 8]).toEqual([...expected]);
      expect(hasValidCrc(Uint8Array.from([...body, ...expected]))).toBe(true);
    });
  }

  it('rejects a frame with one bit flipped', () => {
    const frame = hexBytes('01 05 00 00 FF 00 8C 3A');
    frame[3] = 0x01;
    expect(hasValidCrc(frame)).toBe(false);
  });
});

describe('Eastron frames carry a valid CRC (test/fixtures/vectors/eastron_sdm.json)', () => {
  const frames = loadVectors('eastron_sdm.json').flatMap((vector) => {
    const expected = z.looseObject({ hex: z.string().optional() }).safeParse(vector.expected);
    return expected.success && expected.data.hex ? [{ hex: expected.data.hex, source: vector.source }] : [];
  });

  it('has Eastron request and relay frames to check', () => {
    expect(frames.length).toBeGreaterThanOrEqual(3);
  });

  for (const { hex, source } of frames) {
    it(`${hex} — ${source}`, () => {
      expect(hasValidCrc(hexBytes(hex))).toBe(true);
    });
  }
});

describe('Modbus responses', () => {
  it('reads the FC05 relay-ON echo (seed relay-control-plan.md; brucetsao/Industry4_Gateway "Relay0 On")', () => {
    const response = parsed(hexBytes('01 05 00 00 FF 00 8C 3A'));
    expect(response.frame).toEqual({ slaveId: 1, functionCode: 5, frameHex: '01050000ff008c3a', crcValid: true, coil: { address: 0, on: true } });
  });

  it('reads the FC05 relay-OFF echo (seed relay-control-plan.md)', () => {
    expect(parsed(hexBytes('01 05 00 00 00 00 CD CA')).frame.coil).toEqual({ address: 0, on: false });
  });

  it('reads an FC06 echo (xueplc relay board example "1~4 on")', () => {
    const response = parsed(hexBytes('01 06 00 02 0F 0F 6D FE'));
    expect(response.frame.register).toEqual({ address: 2, value: 0x0f0f });
    expect(response.frame.crcValid).toBe(true);
  });

  it('reads an FC03 reply (xueplc relay board example "reply")', () => {
    expect(parsed(hexBytes('01 03 04 00 04 00 00 BB F2')).registers).toEqual([4, 0]);
  });

  it('reads the SDM320-LoRa relay-state reply (cthings SDM320-LoRa relays article)', () => {
    const response = parsed(hexBytes('01 03 02 00 00 B8 44'));
    expect(response.registers).toEqual([0]);
    expect(response.frame.crcValid).toBe(true);
  });

  it('reads float32 big-endian registers (KBR multicomp FC04 reply: 235.35 V, 110.20 A, 50.012 Hz)', () => {
    const response = parsed(hexBytes('01 04 0C 43 6B 5A B4 42 DC 67 20 42 48 0C 63 AF 7C'));
    const registers = response.registers ?? [];
    expect(registers).toHaveLength(6);
    expect(registersToFloat32BE(registers, 0)).toBe(235.3543);
    expect(registersToFloat32BE(registers, 2)).toBe(110.2014);
    expect(registersToFloat32BE(registers, 4)).toBe(50.0121);
    expect(registersToFloat32BE(registers, 5)).toBeUndefined();
  });

  it('reads an FC16 echo (constructed per the Modbus spec for the SDM320-LoRa relay write to 0xFD00)', () => {
    expect(parsed(withCrc('01 10 FD 00 00 01')).frame.register).toEqual({ address: 0xfd00, quantity: 1 });
  });

  it('reads an exception response (constructed: illegal data address to FC05)', () => {
    const response = parsed(withCrc('01 85 02'));
    expect(response.frame.exceptionCode).toBe(2);
    expect(response.frame.functionCode).toBe(0x85);
  });

  it('reads coil bits (constructed FC01 reply)', () => {
    expect(parsed(withCrc('01 01 01 05')).bits?.slice(0, 4)).toEqual([true, false, true, false]);
  });

  it('keeps a frame whose CRC is wrong, flagged', () => {
    const response = parsed(hexBytes('01 05 00 00 FF 00 8C 3B'));
    expect(response.frame.crcValid).toBe(false);
    expect(response.warnings.join(' ')).toMatch(/CRC/);
  });

  it('accepts a frame sent without CRC, flagged', () => {
    const response = parsed(hexBytes('01 05 00 00 FF 00'));
    expect(response.frame.crcValid).toBe(false);
    expect(response.frame.coil).toEqual({ address: 0, on: true });
    expect(response.warnings.join(' ')).toMatch(/no CRC/);
  });

  it('refuses a request frame where a response belongs (FC16 request of the CRC vectors)', () => {
    const result = parseModbusResponse(hexBytes('01 10 FD 00 00 01 02 FF 00 CB 6F'));
    expect(result).toMatchObject({ ok: false, code: 'invalid_frame' });
  });

  it('refuses an FC05 echo with a value that is neither ON nor OFF', () => {
    expect(parseModbusResponse(withCrc('01 05 00 00 12 34'))).toMatchObject({ ok: false, code: 'invalid_frame' });
  });

  it('refuses a read reply cut short', () => {
    expect(parseModbusResponse(hexBytes('01 03 04 00 04'))).toMatchObject({ ok: false, code: 'truncated' });
  });
});

describe('Modbus response properties', () => {
  it('never throws on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (bytes) => {
        const result = parseModbusResponse(bytes);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 3000 },
    );
  });

  it('parses every well-formed FC05/FC06 echo with a valid CRC', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 247 }), fc.constantFrom(5, 6), fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.integer({ min: 0, max: 0xffff }), (slave, code, address, on, value) => {
        const word = code === 5 ? (on ? 0xff00 : 0) : value;
        const body = Uint8Array.from([slave, code, address >> 8, address & 0xff, word >> 8, word & 0xff]);
        const crc = crc16Modbus(body);
        const response = parsed(Uint8Array.from([...body, crc & 0xff, crc >> 8]));
        expect(response.frame.crcValid).toBe(true);
        if (code === 5) expect(response.frame.coil).toEqual({ address, on });
        else expect(response.frame.register).toEqual({ address, value });
      }),
    );
  });
});
