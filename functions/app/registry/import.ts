// Bulk registration from CSV (POST /devices/import): every line is checked as a single registration would
// be (the device schema, its type's config schema, DevEUI and meter number free in the file and in the
// registry, the meter and site it names existing), and either every device is registered in one
// transaction or none is, with each line's problems reported by line number.
import { parse } from 'csv-parse/sync';
import { inTransaction, type Db } from '#store/db';
import * as store from '#store/registry';
import type { Device, NewDevice } from '#store/schema';
import { checkDeviceConfig } from '#domain/device-config';
import { profileOf } from '#domain/device-profiles';
import { issueLines } from '#domain/issues';
import { ValidationError } from '#shared/errors';
import { auditAll, type Actor } from '../audit.ts';
import { deviceInput, deviceRow, type DeviceInput } from './registry.ts';

export const importColumns = ['deviceType', 'devEui', 'meterNo', 'model', 'manufacturer', 'lifecycle', 'siteId', 'expectedUplinkIntervalS', 'meterId', 'config'] as const;
export const MAX_IMPORT_LINES = 5_000;
export const MAX_IMPORT_BYTES = 2 * 1024 * 1024;

/** The file was refused: nothing was registered. `errors` has one entry per problem, its path `line.N.column`. */
export class DeviceImportRejectedError extends ValidationError {
  override name = 'DeviceImportRejectedError';
}

interface LineError {
  path: string;
  message: string;
}

type Row = Record<string, string>;

function readCsv(text: string): { line: number; row: Row }[] {
  let records: { record: Row; info: { lines: number } }[];
  try {
    records = parse<{ record: Row; info: { lines: number } }>(text, { columns: (header: string[]) => header.map((h) => h.trim()), skip_empty_lines: true, trim: true, info: true, bom: true, max_record_size: 64 * 1024 });
  } catch (error) {
    const line = typeof (error as { lines?: unknown }).lines === 'number' ? (error as { lines: number }).lines : undefined;
    const message = `not readable as CSV${line ? ` at line ${line}` : ''}: ${(error as Error).message}`;
    throw new DeviceImportRejectedError(message, { errors: [{ path: line ? `line.${line}` : 'body', message }] });
  }
  return records.map((r) => ({ line: r.info.lines, row: r.record }));
}

/** A CSV line as a registration request: empty cells are absent, numbers and the config JSON are read. */
function lineInput(row: Row, line: number, errors: LineError[]): unknown {
  const value: Record<string, unknown> = {};
  for (const [key, cell] of Object.entries(row)) {
    if (cell === '') continue;
    if (key === 'expectedUplinkIntervalS') value[key] = /^\d+$/.test(cell) ? Number(cell) : cell;
    else if (key === 'config') {
      try {
        value[key] = JSON.parse(cell) as unknown;
      } catch {
        errors.push({ path: `line.${line}.config`, message: 'must be a JSON object, e.g. {"pulsesPerUnit":800}' });
      }
    } else value[key] = cell;
  }
  return value;
}

/**
 * Register every device of the CSV or none. Header row: deviceType (required) and any of devEui, meterNo,
 * model, manufacturer, lifecycle, siteId, expectedUplinkIntervalS, meterId (the meter the device serves),
 * config (a JSON object merged over the type's defaults).
 */
export async function importDevices(db: Db, text: string, actor: Actor, now: Date): Promise<Device[]> {
  const lines = readCsv(text);
  const errors: LineError[] = [];
  if (!lines.length) throw new DeviceImportRejectedError('the file has no device lines', { errors: [{ path: 'body', message: 'a header row and at least one device line' }] });
  if (lines.length > MAX_IMPORT_LINES) throw new DeviceImportRejectedError(`at most ${MAX_IMPORT_LINES} devices per file`, { errors: [{ path: 'body', message: `${lines.length} lines` }] });
  const unknown = Object.keys(lines[0]!.row).filter((c) => !(importColumns as readonly string[]).includes(c));
  if (unknown.length) throw new DeviceImportRejectedError(`unknown columns: ${unknown.join(', ')}`, { errors: unknown.map((c) => ({ path: 'line.1', message: `unknown column ${c}; columns are ${importColumns.join(', ')}` })) });

  const parsed: { line: number; input: DeviceInput }[] = [];
  for (const { line, row } of lines) {
    const before = errors.length;
    const candidate = lineInput(row, line, errors);
    const result = deviceInput.safeParse(candidate);
    if (!result.success) {
      errors.push(...issueLines(result.error).map((e) => ({ path: `line.${line}.${e.path}`, message: e.message })));
      continue;
    }
    const config = { ...profileOf(result.data.deviceType).defaultConfig, ...result.data.config };
    const checked = checkDeviceConfig(result.data.deviceType, config);
    if (!checked.success) errors.push(...issueLines(checked.error).map((e) => ({ path: `line.${line}.config.${e.path}`, message: e.message })));
    if (errors.length === before) parsed.push({ line, input: result.data });
  }

  // Duplicates within the file, then against the registry.
  const firstLine = new Map<string, number>();
  for (const { line, input } of parsed) {
    for (const [column, key] of [['devEui', input.devEui], ['meterNo', input.meterNo]] as const) {
      if (!key) continue;
      const seen = firstLine.get(`${column}:${key}`);
      if (seen !== undefined) errors.push({ path: `line.${line}.${column}`, message: `${key} is also on line ${seen}` });
      else firstLine.set(`${column}:${key}`, line);
    }
  }
  const devEuis = parsed.flatMap((p) => (p.input.devEui ? [p.input.devEui] : []));
  const meterNos = parsed.flatMap((p) => (p.input.meterNo ? [p.input.meterNo] : []));
  const taken = await store.takenDeviceIdentities(db, devEuis, meterNos);
  const takenEuis = new Set(taken.map((t) => t.dev_eui));
  const takenNos = new Set(taken.map((t) => t.meter_no));
  const meters = new Set(await store.existingIds(db, 'meters', [...new Set(parsed.flatMap((p) => (p.input.meterId ? [p.input.meterId.toLowerCase()] : [])))]));
  const sites = new Set(await store.existingIds(db, 'sites', [...new Set(parsed.flatMap((p) => (p.input.siteId ? [p.input.siteId.toLowerCase()] : [])))]));
  const meterUse = new Map<string, number>();
  for (const { line, input } of parsed) {
    if (input.devEui && takenEuis.has(input.devEui)) errors.push({ path: `line.${line}.devEui`, message: `a device with DevEUI ${input.devEui} is already registered` });
    if (input.meterNo && takenNos.has(input.meterNo)) errors.push({ path: `line.${line}.meterNo`, message: `a device with meter number ${input.meterNo} is already registered` });
    if (input.meterId && !meters.has(input.meterId.toLowerCase())) errors.push({ path: `line.${line}.meterId`, message: `meter ${input.meterId} does not exist` });
    if (input.siteId && !sites.has(input.siteId.toLowerCase())) errors.push({ path: `line.${line}.siteId`, message: `site ${input.siteId} does not exist` });
    if (input.meterId) {
      const seen = meterUse.get(input.meterId.toLowerCase());
      if (seen !== undefined) errors.push({ path: `line.${line}.meterId`, message: `meter ${input.meterId} is also given a device on line ${seen}` });
      else meterUse.set(input.meterId.toLowerCase(), line);
    }
  }
  if (errors.length) {
    const bad = new Set(errors.map((e) => e.path.split('.')[1])).size;
    throw new DeviceImportRejectedError(`no device was registered: ${bad} of ${lines.length} lines have errors`, { errors });
  }

  return inTransaction(db, 'device import', async (trx) => {
    const rows: NewDevice[] = parsed.map(({ input }) => deviceRow(input));
    const devices = await store.insertDevices(trx, rows);
    for (const [i, { input }] of parsed.entries()) {
      if (input.meterId) await store.assignDevice(trx, input.meterId, devices[i]!.id, now);
    }
    await auditAll(
      trx,
      actor.principal,
      actor.requestId,
      devices.map((d, i) => ({ action: 'device.create', targetType: 'device', targetId: d.id, details: { ...parsed[i]!.input, import: true, line: parsed[i]!.line } })),
    );
    return devices;
  });
}
