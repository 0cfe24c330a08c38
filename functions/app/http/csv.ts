// CSV answers (RFC 4180): a header row and one row per item, fields quoted when they hold a comma, a
// quote or a line break. Used when a client asks with `Accept: text/csv`.
import type { HttpResult } from './kit.ts';

type Cell = string | number | boolean | Date | null | undefined;

/** One field: quoted when it must be, and text a spreadsheet would run as a formula (=, +, -, @) defused. */
const cell = (v: Cell): string => {
  if (v === null || v === undefined) return '';
  let s = v instanceof Date ? v.toISOString() : String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv<T extends object>(columns: readonly (keyof T & string)[], rows: readonly T[]): string {
  return [columns.map(cell).join(','), ...rows.map((r) => columns.map((c) => cell(r[c] as Cell)).join(','))].join('\r\n') + '\r\n';
}

/** Does the client prefer CSV (`Accept: text/csv`) over JSON? */
export const wantsCsv = (headers: Record<string, string>): boolean => /\btext\/csv\b/i.test(headers.accept ?? '');

export const csvResult = <T extends object>(columns: readonly (keyof T & string)[], rows: readonly T[], filename: string): HttpResult => ({
  status: 200,
  rawBody: toCsv(columns, rows),
  headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${filename}"` },
});
