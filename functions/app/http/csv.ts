// CSV answers (RFC 4180): a header row and one row per item, fields quoted when they hold a comma, a
// quote or a line break. Used when a client asks with `Accept: text/csv`.
import type { HttpResult } from './kit.ts';

type Cell = string | number | boolean | Date | null | undefined;

const cell = (v: Cell): string => {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv(columns: readonly string[], rows: readonly Record<string, Cell>[]): string {
  return [columns.map(cell).join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\r\n') + '\r\n';
}

/** Does the client prefer CSV (`Accept: text/csv`) over JSON? */
export const wantsCsv = (headers: Record<string, string>): boolean => /\btext\/csv\b/i.test(headers.accept ?? '');

export const csvResult = (columns: readonly string[], rows: readonly Record<string, Cell>[], filename: string): HttpResult => ({
  status: 200,
  text: toCsv(columns, rows),
  headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${filename}"` },
});
