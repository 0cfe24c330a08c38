// How values read on the page: times in the operator's locale, with how long ago.

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 0) return 'in the future';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const num = (value: number | string | null | undefined, digits = 3): string =>
  value === null || value === undefined || value === '' ? '—' : Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });

export const interval = (seconds: number | null | undefined): string =>
  !seconds ? 'its next uplink' : seconds < 120 ? `its next uplink (about every ${seconds} s)` : `its next uplink (about every ${Math.round(seconds / 60)} minutes)`;
