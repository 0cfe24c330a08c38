// The Data API's typing rules, where the dialect meets them: named parameters bound with the type the
// service gives each Field (a string is varchar unless a typeHint says otherwise), and PostgreSQL's text
// results turned into Field unions and column metadata the way the service (pgjdbc underneath) does.
import { rewriteCode } from '#adapters/db/sql-text';
import {
  DataApiServiceError,
  type RequestField,
  type ResponseArray,
  type ResponseField,
  type SqlParameter,
  type TypeHint,
} from './protocol.ts';

// Parameters: named → positional, each bound with the type the service gives it.

export type BoundValue = string | number | boolean | Uint8Array | null;

interface BoundParameter {
  cast: string | undefined;
  value: BoundValue;
}

const TIMESTAMP_FORMAT = /^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}(\.\d{1,9})?$/;
const DATE_FORMAT = /^\d{4}-\d{1,2}-\d{1,2}$/;
const TIME_FORMAT = /^\d{1,2}:\d{1,2}:\d{1,2}(\.\d{1,9})?$/;
const HINT_CAST: Record<TypeHint, string> = {
  JSON: 'json',
  UUID: 'uuid',
  TIMESTAMP: 'timestamp',
  DATE: 'date',
  TIME: 'time',
  DECIMAL: 'numeric',
};

function bindParameter(parameter: SqlParameter): BoundParameter {
  const field: RequestField = parameter.value ?? {};
  const members = Object.entries(field).filter(([, v]) => v !== undefined);
  if (members.length !== 1) {
    throw new DataApiServiceError('BadRequestException', `Parameter ${parameter.name ?? ''} must have exactly one value`);
  }
  if (field.arrayValue !== undefined) throw new DataApiServiceError('BadRequestException', 'Array parameters are not supported');
  if (field.isNull) return { cast: undefined, value: null };
  if (field.booleanValue !== undefined) return { cast: 'bool', value: field.booleanValue };
  if (field.longValue !== undefined) return { cast: 'int8', value: field.longValue };
  if (field.doubleValue !== undefined) return { cast: 'float8', value: field.doubleValue };
  if (field.blobValue !== undefined) return { cast: 'bytea', value: new Uint8Array(Buffer.from(field.blobValue, 'base64')) };
  const text = field.stringValue ?? '';
  const hint = parameter.typeHint;
  if (hint === 'TIMESTAMP' && !TIMESTAMP_FORMAT.test(text)) {
    throw new DataApiServiceError('BadRequestException', 'Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]');
  }
  if (hint === 'DATE' && !DATE_FORMAT.test(text)) throw new DataApiServiceError('BadRequestException', 'Date format must be yyyy-mm-dd');
  if (hint === 'TIME' && !TIME_FORMAT.test(text)) throw new DataApiServiceError('BadRequestException', 'Time format must be hh:mm:ss[.fff]');
  return { cast: hint ? HINT_CAST[hint] : 'varchar', value: text };
}

const NAMED_PARAMETER = /(?<![:\w$]):([A-Za-z_][A-Za-z0-9_]*)/g;

/** Rewrite :name to $n::type outside strings, quoted identifiers, dollar quotes and comments (`::` casts stay). */
export function bindNamedParameters(sql: string, parameters: readonly SqlParameter[]): { text: string; values: BoundValue[] } {
  const byName = new Map<string, BoundParameter>();
  for (const parameter of parameters) {
    if (!parameter.name) throw new DataApiServiceError('BadRequestException', 'Parameter name is required');
    byName.set(parameter.name, bindParameter(parameter));
  }
  const positions = new Map<string, number>();
  const values: BoundValue[] = [];
  const text = rewriteCode(sql, (code) =>
    code.replace(NAMED_PARAMETER, (_match, name: string) => {
      const bound = byName.get(name);
      if (!bound) throw new DataApiServiceError('BadRequestException', `No value specified for parameter: ${name}`);
      let position = positions.get(name);
      if (position === undefined) {
        values.push(bound.value);
        position = values.length;
        positions.set(name, position);
      }
      return bound.cast ? `$${position}::${bound.cast}` : `$${position}`;
    }),
  );
  return { text, values };
}

// Results: PostgreSQL text values → Field unions and column metadata.

export interface TypeInfo {
  oid: number;
  name: string;
  type: string; // pg_type.typtype: b base, e enum, d domain, ...
  category: string; // pg_type.typcategory: A array, ...
  elem: number;
}

// data-api-operations: the PostgreSQL scalar and array types the service returns (timestamptz: see its note).
const SUPPORTED_SCALARS = new Set([
  'bool', 'bytea', 'date', 'cidr', 'numeric', 'float8', 'inet', 'int4', 'int2', 'int8', 'jsonb', 'json',
  'float4', 'text', 'bpchar', 'varchar', 'name', 'time', 'timestamp', 'timestamptz', 'uuid', 'vector', 'bit',
]);
const SUPPORTED_ARRAY_ELEMENTS = new Set([
  'bool', 'bit', 'date', 'numeric', 'float8', 'int4', 'int2', 'int8', 'json', 'float4', 'text', 'bpchar',
  'varchar', 'name', 'time', 'timestamp', 'uuid',
]);
// java.sql.Types as pgjdbc reports them (columnMetadata.type).
const JDBC_TYPE: Record<string, number> = {
  bool: -7, bit: -7, int2: 5, int4: 4, int8: -5, float4: 7, float8: 8, numeric: 2, bpchar: 1, varchar: 12,
  text: 12, name: 12, date: 91, time: 92, timestamp: 93, timestamptz: 93, bytea: -2,
};

export interface ResultOptions {
  decimalReturnType?: 'STRING' | 'DOUBLE_OR_LONG' | undefined;
  longReturnType?: 'STRING' | 'LONG' | undefined;
}

type PgArray = (string | null | PgArray)[];

/** PostgreSQL's text form of an array ({a,"b c",NULL,{1,2}}) as nested lists of element texts. */
function parseArrayText(text: string): PgArray {
  let i = Math.max(0, text.indexOf('{'));
  const list = (): PgArray => {
    i++; // '{'
    const items: PgArray = [];
    if (text[i] === '}') {
      i++;
      return items;
    }
    while (i < text.length) {
      if (text[i] === '{') items.push(list());
      else if (text[i] === '"') {
        let value = '';
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i] ?? '';
          i++;
        }
        i++;
        items.push(value);
      } else {
        const start = i;
        while (i < text.length && text[i] !== ',' && text[i] !== '}') i++;
        const raw = text.slice(start, i).trim();
        items.push(raw === 'NULL' ? null : raw);
      }
      if (text[i] === ',') {
        i++;
        continue;
      }
      i++; // '}'
      break;
    }
    return items;
  };
  return list();
}

/** timestamptz as the service returns it: in UTC, without the offset. */
function formatTimestamptz(text: string): string {
  const m = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-]\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(text);
  if (!m) return text; // infinity and BC dates pass through as PostgreSQL prints them
  const [, y, mo, d, h, mi, s, fraction = '', offsetHours = '+00', offsetMinutes = '00', offsetSeconds = '00'] = m;
  const sign = offsetHours.startsWith('-') ? -1 : 1;
  const offset = sign * (Math.abs(Number(offsetHours)) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds));
  if (offset === 0) return `${y}-${mo}-${d} ${h}:${mi}:${s}${fraction}`;
  const utc = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) - offset * 1000);
  const iso = utc.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction}`;
}

export function unsupported(type: TypeInfo): DataApiServiceError {
  return new DataApiServiceError('UnsupportedResultException', `The result contains the unsupported data type ${type.name}.`);
}

export function isSupported(type: TypeInfo, types: ReadonlyMap<number, TypeInfo>): boolean {
  if (type.category === 'A') {
    const elem = types.get(type.elem);
    return elem !== undefined && (SUPPORTED_ARRAY_ELEMENTS.has(elem.name) || elem.type === 'e');
  }
  return SUPPORTED_SCALARS.has(type.name) || type.type === 'e';
}

function arrayValue(items: PgArray, elem: string): ResponseArray {
  if (items.some((item) => Array.isArray(item))) {
    return { arrayValues: items.map((item) => arrayValue(Array.isArray(item) ? item : [item], elem)) };
  }
  const texts = items.filter((item): item is string | null => !Array.isArray(item));
  if (elem === 'int2' || elem === 'int4' || elem === 'int8') return { longValues: texts.map((t) => (t === null ? null : Number(t))) };
  if (elem === 'float4' || elem === 'float8') return { doubleValues: texts.map((t) => (t === null ? null : Number(t))) };
  if (elem === 'bool' || elem === 'bit') return { booleanValues: texts.map((t) => (t === null ? null : t === 't' || t === '1')) };
  return { stringValues: texts };
}

export function toField(text: string | null, type: TypeInfo, types: ReadonlyMap<number, TypeInfo>, options: ResultOptions): ResponseField {
  if (text === null) return { isNull: true };
  if (type.category === 'A') return { arrayValue: arrayValue(parseArrayText(text), types.get(type.elem)?.name ?? 'text') };
  switch (type.name) {
    case 'bool':
      return { booleanValue: text === 't' };
    case 'bit':
      return { booleanValue: text === '1' };
    case 'int2':
    case 'int4':
    case 'int8':
      return options.longReturnType === 'STRING' ? { stringValue: text } : { longValue: Number(text) };
    case 'float4':
    case 'float8':
      return { doubleValue: Number(text) };
    case 'numeric':
      if (options.decimalReturnType !== 'DOUBLE_OR_LONG') return { stringValue: text };
      return text.includes('.') ? { doubleValue: Number(text) } : { longValue: Number(text) };
    case 'bytea':
      return { blobValue: Buffer.from(text.startsWith('\\x') ? text.slice(2) : text, 'hex').toString('base64') };
    case 'timestamptz':
      return { stringValue: formatTimestamptz(text) };
    default:
      return { stringValue: text };
  }
}

export function jsonValue(field: ResponseField): unknown {
  if ('isNull' in field) return null;
  if ('booleanValue' in field) return field.booleanValue;
  if ('longValue' in field) return field.longValue;
  if ('doubleValue' in field) return field.doubleValue;
  if ('stringValue' in field) return field.stringValue;
  if ('blobValue' in field) return field.blobValue;
  const unwrap = (a: ResponseArray): unknown[] =>
    'arrayValues' in a ? a.arrayValues.map(unwrap) : 'longValues' in a ? a.longValues : 'doubleValues' in a ? a.doubleValues : 'booleanValues' in a ? a.booleanValues : a.stringValues;
  return unwrap(field.arrayValue);
}

/** A column's metadata as pgjdbc describes it (only what the service fills in for PostgreSQL). */
export function columnMetadata(name: string, type: TypeInfo | undefined) {
  const typeName = type?.name ?? '';
  return {
    name,
    label: name,
    typeName,
    type: type?.category === 'A' ? 2003 : (JDBC_TYPE[typeName] ?? 1111),
    arrayBaseColumnType: 0,
    isAutoIncrement: false,
    isCaseSensitive: ['text', 'varchar', 'bpchar', 'name'].includes(typeName),
    isCurrency: false,
    isSigned: ['int2', 'int4', 'int8', 'float4', 'float8', 'numeric'].includes(typeName),
    nullable: 2,
    precision: 0,
    scale: 0,
    schemaName: '',
    tableName: '',
  };
}
