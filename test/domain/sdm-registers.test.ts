// The SDM630/SDM320C register maps against Eastron's tables (test/fixtures/vectors/eastron_sdm.json:
// volkszaehler/mbmd sdm.go and ESPEasy P078 for addresses and per-model validity; the SDM320Y manual's
// request frame for Total kWh at 0x0156; a KBR float32 big-endian response for the word order), and the
// decoding and plausibility rules the collector applies.
import { describe, expect, it } from 'vitest';
import {
  checkRegisterMap,
  decodeRegisterBlocks,
  float32ToRegisters,
  MAX_REGISTERS_PER_REQUEST,
  plausibilityFlags,
  registerMaps,
  type RegisterMap,
  type SdmField,
} from '#domain/sdm-registers';
import { loadVectors } from '../support/vectors.ts';

interface RegisterVector {
  kind: string;
  input: { start_address_hex?: string; response_hex?: string };
  expected: { name?: string; valid_on_SDM630?: boolean; valid_on_SDM320C?: boolean; start_address?: string; registers?: number };
  verified?: Record<string, number>;
}
const vectors = loadVectors<RegisterVector>('eastron_sdm.json');

// Eastron's parameter names for the fields we read.
const fieldOfName: Record<string, SdmField> = {
  'Phase 1 line to neutral volts': 'voltageL1',
  'Phase 3 line to neutral volts': 'voltageL3',
  'Phase 2 current': 'currentL2',
  'Phase 1 active power': 'powerL1',
  'Phase 3 active power': 'powerL3',
  'Phase 2 power factor': 'powerFactorL2',
  'Total system power': 'powerTotal',
  'Frequency of supply voltages': 'frequency',
  'Total Export kWh': 'energyExportKwh',
};

describe('SDM register maps', () => {
  it.each(Object.values(registerMaps))('$model is read in at most two requests of at most 40 parameters, every field inside one', (map) => {
    expect(checkRegisterMap(map)).toEqual([]);
    expect(map.blocks.length).toBeLessThanOrEqual(2);
    for (const b of map.blocks) expect(b.count).toBeLessThanOrEqual(MAX_REGISTERS_PER_REQUEST);
  });

  const named = vectors.filter((v) => v.kind === 'input-register' && v.expected.name && fieldOfName[v.expected.name]);
  it.each(named.map((v) => [v.expected.name, v] as const))('puts %s where Eastron does, on the models it exists on', (_name, v) => {
    const field = fieldOfName[v.expected.name!]!;
    const address = Number.parseInt(v.input.start_address_hex!, 16);

    const on630 = registerMaps.SDM630.fields.find((f) => f.field === field);
    const on320 = registerMaps.SDM320C.fields.find((f) => f.field === field);

    expect(on630?.address).toBe(address);
    if (v.expected.valid_on_SDM320C) expect(on320?.address).toBe(address);
    else expect(on320).toBeUndefined();
  });

  it('reads Total kWh at 0x0156, as the manual\'s request frame does', () => {
    const frame = vectors.find((v) => v.kind === 'request-frame' && v.expected.start_address === '0x0156');

    expect(frame?.expected.registers).toBe(2);
    expect(registerMaps.SDM630.fields.find((f) => f.field === 'energyTotalKwh')?.address).toBe(0x0156);
    expect(registerMaps.SDM320C.fields.find((f) => f.field === 'energyTotalKwh')?.address).toBe(0x0156);
  });

  it('finds a field outside every block, and a third request', () => {
    const bad: RegisterMap = { model: 'X', blocks: [{ start: 0, count: 4 }, { start: 10, count: 2 }, { start: 20, count: 2 }], fields: [{ field: 'frequency', address: 6, unit: 'Hz' }] };

    expect(checkRegisterMap(bad)).toEqual(['X: 3 requests (1 or 2 allowed)', 'X: frequency at 6 is outside every block']);
  });
});

describe('decoding a meter\'s registers', () => {
  const threeFloats: RegisterMap = {
    model: 'test', blocks: [{ start: 0, count: 6 }],
    fields: [{ field: 'voltageL1', address: 0, unit: 'V' }, { field: 'currentL1', address: 2, unit: 'A' }, { field: 'frequency', address: 4, unit: 'Hz' }],
  };

  it('decodes float32 big-endian, high word first (the KBR response vector)', () => {
    const v = vectors.find((x) => x.kind === 'float32-be-decode')!;
    const bytes = v.input.response_hex!.split(' ').map((h) => Number.parseInt(h, 16)).slice(3, 15);
    const registers = Array.from({ length: 6 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);

    const { values, flags } = decodeRegisterBlocks(threeFloats, [registers]);

    expect(values).toEqual({ voltageL1: 235.3543, currentL1: 110.2014, frequency: 50.0121 });
    expect(flags).toEqual([]);
  });

  it('keeps a NaN as null with a flag, and a short answer as a missing flag, without throwing', () => {
    const nan = float32ToRegisters(Number.NaN);

    const { values, flags } = decodeRegisterBlocks(threeFloats, [[...float32ToRegisters(230), ...nan]]);

    expect(values).toEqual({ voltageL1: 230, currentL1: null });
    expect(flags).toEqual(['nan:currentL1', 'missing:frequency']);
  });

  it('round-trips every field of the SDM630 map through the registers a meter sends', () => {
    const map = registerMaps.SDM630;
    const words = new Map<number, number>();
    map.fields.forEach((f, i) => {
      const [hi, lo] = float32ToRegisters(i + 0.5);
      words.set(f.address, hi);
      words.set(f.address + 1, lo);
    });
    const responses = map.blocks.map((b) => Array.from({ length: b.count }, (_, i) => words.get(b.start + i) ?? 0));

    const { values } = decodeRegisterBlocks(map, responses);

    expect(map.fields.map((f) => values[f.field])).toEqual(map.fields.map((_, i) => i + 0.5));
  });
});

describe('plausibility', () => {
  it('flags negative energy, energy going backwards, a power factor past 1 and a frequency off the grid', () => {
    const flags = plausibilityFlags(
      { energyImportKwh: 99, energyExportKwh: -1, powerFactorL1: 1.4, voltageL1: 230, frequency: 80 },
      { energyImportKwh: 100, energyExportKwh: 0 },
    );

    expect(flags).toEqual(['backwards:energyImportKwh', 'negative:energyExportKwh', 'backwards:energyExportKwh', 'out_of_range:powerFactorL1', 'out_of_range:frequency']);
  });

  it('raises nothing for an ordinary reading, nor for frequency 0 on a dead line', () => {
    expect(plausibilityFlags({ energyImportKwh: 101, voltageL1: 231, frequency: 50, powerFactorTotal: -0.9 }, { energyImportKwh: 100 })).toEqual([]);
    expect(plausibilityFlags({ voltageL1: 0, frequency: 0 })).toEqual([]);
  });
});
