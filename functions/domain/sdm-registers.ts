// Eastron SDM630 / SDM320C input registers (function 04) as data: which blocks the collector reads (at
// most two requests per meter, each ≤ 40 parameters as the meters allow) and which float32 sits where,
// and the plausibility checks a reading gets before it is posted. Pure; no Modbus I/O here.
import { registersToFloat32BE } from './decoders/modbus-response.ts';

/**
 * Named measurement of a meter. Per-phase values are L1..L3; the unsuffixed ones are what the platform
 * stores in its columns (voltage/current of L1 on a single-phase meter, total power, import energy).
 */
export const sdmFieldNames = [
  'voltageL1', 'voltageL2', 'voltageL3',
  'currentL1', 'currentL2', 'currentL3',
  'powerL1', 'powerL2', 'powerL3', 'powerTotal',
  'powerFactorL1', 'powerFactorL2', 'powerFactorL3', 'powerFactorTotal',
  'frequency',
  'energyImportKwh', 'energyExportKwh', 'energyTotalKwh',
] as const;
export type SdmField = (typeof sdmFieldNames)[number];

export interface RegisterField {
  field: SdmField;
  /** Zero-based wire address (Eastron's 3xxxx number minus 30001) of the float's high word. */
  address: number;
  unit: 'V' | 'A' | 'W' | '' | 'Hz' | 'kWh';
}

export interface RegisterBlock {
  /** Zero-based address of the first register of one FC04 request. */
  start: number;
  /** Registers read (two per float; at most 80, i.e. 40 parameters). */
  count: number;
}

export interface RegisterMap {
  model: string;
  blocks: readonly RegisterBlock[];
  fields: readonly RegisterField[];
}

/** The most registers an Eastron SDM answers in one request (40 float parameters). */
export const MAX_REGISTERS_PER_REQUEST = 80;

const f = (field: SdmField, address: number, unit: RegisterField['unit']): RegisterField => ({ field, address, unit });

// Addresses from the Eastron SDM630 Modbus protocol table (volkszaehler/mbmd sdm.go; per-model validity
// from ESPEasy P078), the same ones test/fixtures/vectors/eastron_sdm.json carries.
const sdm630Fields: RegisterField[] = [
  f('voltageL1', 0x0000, 'V'), f('voltageL2', 0x0002, 'V'), f('voltageL3', 0x0004, 'V'),
  f('currentL1', 0x0006, 'A'), f('currentL2', 0x0008, 'A'), f('currentL3', 0x000a, 'A'),
  f('powerL1', 0x000c, 'W'), f('powerL2', 0x000e, 'W'), f('powerL3', 0x0010, 'W'),
  f('powerFactorL1', 0x001e, ''), f('powerFactorL2', 0x0020, ''), f('powerFactorL3', 0x0022, ''),
  f('powerTotal', 0x0034, 'W'), f('powerFactorTotal', 0x003e, ''),
  f('frequency', 0x0046, 'Hz'),
  f('energyImportKwh', 0x0048, 'kWh'), f('energyExportKwh', 0x004a, 'kWh'),
  f('energyTotalKwh', 0x0156, 'kWh'),
];

// The SDM320C is single phase: L1 only, and its active power at 0x000C is the total.
const sdm320cFields: RegisterField[] = [
  f('voltageL1', 0x0000, 'V'), f('currentL1', 0x0006, 'A'), f('powerL1', 0x000c, 'W'),
  f('powerFactorL1', 0x001e, ''), f('frequency', 0x0046, 'Hz'),
  f('energyImportKwh', 0x0048, 'kWh'), f('energyExportKwh', 0x004a, 'kWh'), f('energyTotalKwh', 0x0156, 'kWh'),
];

/** Per model: two requests, 0x0000–0x004B (38 parameters) and Total kWh at 0x0156. */
export const registerMaps = {
  SDM630: { model: 'SDM630', blocks: [{ start: 0x0000, count: 0x4c }, { start: 0x0156, count: 2 }], fields: sdm630Fields },
  SDM320C: { model: 'SDM320C', blocks: [{ start: 0x0000, count: 0x4c }, { start: 0x0156, count: 2 }], fields: sdm320cFields },
} as const satisfies Record<string, RegisterMap>;
export type SdmModel = keyof typeof registerMaps;
export const sdmModels = Object.keys(registerMaps) as [SdmModel, ...SdmModel[]];

/** A map's problems (a field outside every block, a block too long): empty when it can be polled. */
export function checkRegisterMap(map: RegisterMap): string[] {
  const problems: string[] = [];
  if (map.blocks.length === 0 || map.blocks.length > 2) problems.push(`${map.model}: ${map.blocks.length} requests (1 or 2 allowed)`);
  for (const b of map.blocks) {
    if (b.count < 2 || b.count > MAX_REGISTERS_PER_REQUEST) problems.push(`${map.model}: block at ${b.start} reads ${b.count} registers`);
  }
  for (const fd of map.fields) {
    if (!map.blocks.some((b) => fd.address >= b.start && fd.address + 2 <= b.start + b.count)) {
      problems.push(`${map.model}: ${fd.field} at ${fd.address} is outside every block`);
    }
  }
  return problems;
}

export type SdmValues = Partial<Record<SdmField, number | null>>;

/**
 * The values of a map's fields from the registers each block returned (in block order). A float that
 * is NaN or infinite (a meter's "not available") becomes null and a flag; a block answered short is a
 * flag too, never an exception.
 */
export function decodeRegisterBlocks(map: RegisterMap, responses: readonly (readonly number[])[]): { values: SdmValues; flags: string[] } {
  const values: SdmValues = {};
  const flags: string[] = [];
  for (const fd of map.fields) {
    const i = map.blocks.findIndex((b) => fd.address >= b.start && fd.address + 2 <= b.start + b.count);
    const block = map.blocks[i];
    const registers = responses[i];
    if (!block || !registers || registers.length < fd.address - block.start + 2) {
      flags.push(`missing:${fd.field}`);
      continue;
    }
    const value = registersToFloat32BE(registers, fd.address - block.start);
    if (value === undefined) {
      values[fd.field] = null;
      flags.push(`nan:${fd.field}`);
    } else {
      values[fd.field] = value;
    }
  }
  return { values, flags };
}

const ENERGY_FIELDS = ['energyImportKwh', 'energyExportKwh', 'energyTotalKwh'] as const;

/**
 * Plausibility flags of a reading, given the previous one of the same meter: negative energy, an energy
 * counter going backwards, a power factor outside −1..1, a frequency outside 45–65 Hz while there is
 * voltage. The reading is kept and posted with its flags; nothing is dropped here.
 */
export function plausibilityFlags(values: SdmValues, previous?: SdmValues): string[] {
  const flags: string[] = [];
  for (const name of ENERGY_FIELDS) {
    const v = values[name];
    if (v === undefined || v === null) continue;
    if (v < 0) flags.push(`negative:${name}`);
    const before = previous?.[name];
    if (before !== undefined && before !== null && v < before) flags.push(`backwards:${name}`);
  }
  for (const name of ['powerFactorL1', 'powerFactorL2', 'powerFactorL3', 'powerFactorTotal'] as const) {
    const v = values[name];
    if (v !== undefined && v !== null && Math.abs(v) > 1) flags.push(`out_of_range:${name}`);
  }
  const hz = values.frequency;
  if (hz !== undefined && hz !== null && (values.voltageL1 ?? 0) > 0 && (hz < 45 || hz > 65)) flags.push('out_of_range:frequency');
  return flags;
}

/** Float32 as two registers, high word first: what a meter (or the simulator) puts on the wire. */
export function float32ToRegisters(value: number): [number, number] {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, false);
  return [view.getUint16(0, false), view.getUint16(2, false)];
}
