// Tariffs: each with its versions, newest first, and every version's components as the billing job rates
// them (flat, inclining blocks, time of use, fixed charges, taxes and levies). Operators and admins create a
// tariff and add versions (components/tariff-form.tsx); a viewer only reads.
import { useState } from 'preact/hooks';
import { EmptyRow, ErrorLine, PageHeader } from '../components/bits.tsx';
import { NewTariff, NewVersion, unitOf } from '../components/tariff-form.tsx';
import { when } from '../format.ts';
import { majorText } from '../money.ts';
import type { Tariff, TariffVersion } from '../portal-types.ts';
import { href } from '../router.ts';
import type { Items } from '../types.ts';
import { useApi } from '../use-api.ts';

type Component = Record<string, unknown> & { id?: string; kind?: string; name?: string };
const rate = (v: unknown, currency: string) => `${currency} ${majorText(v)}`;

function describe(c: Component, currency: string, unit: string): string {
  const list = (v: unknown) => (Array.isArray(v) ? v : []) as Record<string, unknown>[];
  switch (c.kind) {
    case 'flat':
      return `${rate(c.rateMinor, currency)} per ${unit}`;
    case 'blocks':
      return list(c.blocks)
        .map((b) => `${b.upTo === null ? 'above' : `up to ${Number(b.upTo)} ${unit}`}: ${rate(b.rateMinor, currency)}`)
        .join('; ') + ' (per month)';
    case 'tou':
      return `${list(c.bands)
        .map((b) => `${String(b.name)} ${rate(b.rateMinor, currency)}`)
        .join(', ')}; ${list(c.periods)
        .map((p) => `${String(p.band)} ${String(p.days)} ${String(p.from)}–${String(p.to)}`)
        .join(', ')}`;
    case 'fixed':
      return `${rate(c.amountMinor, currency)} per ${String(c.per)}`;
    case 'percent_tax':
      return `${String(c.percent)} % on ${(c.appliesTo as string[] | undefined)?.join(', ') ?? '—'}`;
    case 'unit_levy':
      return `${rate(c.rateMinor, currency)} per ${unit} on ${(c.appliesTo as string[] | undefined)?.join(', ') ?? '—'}`;
    default:
      return JSON.stringify(c);
  }
}

function Version({ tariff, version, current }: { tariff: Tariff; version: TariffVersion; current: boolean }) {
  const components = (Array.isArray(version.components) ? version.components : []) as Component[];
  const unit = unitOf(tariff.meterType);
  return (
    <div class="card" data-version={version.version}>
      <h2>
        Version {version.version} {current ? <span class="badge badge-ok">in effect</span> : new Date(version.effectiveFrom) > new Date() ? <span class="badge badge-info">scheduled</span> : null}
      </h2>
      <p class="small muted">
        From {when(version.effectiveFrom)} · by {version.createdBy ?? '—'}
        {version.note ? ` · “${version.note}”` : ''}
      </p>
      <table class="list">
        <thead>
          <tr>
            <th>Component</th>
            <th>Kind</th>
            <th>Rates</th>
          </tr>
        </thead>
        <tbody>
          {components.map((c) => (
            <tr key={c.id}>
              <td>
                {c.name ?? c.id} <span class="mono small muted">{c.id}</span>
              </td>
              <td>{c.kind}</td>
              <td class="small">{describe(c, tariff.currency, unit)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TariffDetail({ id, canOperate }: { id: string; canOperate: boolean }) {
  const { data, error, reload } = useApi<Tariff>(`/tariffs/${id}`);
  const [adding, setAdding] = useState(false);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const now = Date.now();
  const current = data?.versions.filter((v) => new Date(v.effectiveFrom).getTime() <= now).pop();
  return (
    <>
      <PageHeader title={data ? `Tariff ${data.name}` : 'Tariff'}>
        <a href={href('/tariffs')}>← all tariffs</a>
        {canOperate && data ? (
          <button class="primary" onClick={() => (setNotice(undefined), setAdding(true))}>
            New version
          </button>
        ) : null}
      </PageHeader>
      <ErrorLine error={error} />
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      {adding && data ? (
        <NewVersion
          tariff={data}
          onClose={() => setAdding(false)}
          onSaved={(v) => {
            setAdding(false);
            setNotice(`Version ${v.version} saved: it takes over from ${when(v.effectiveFrom)}.`);
            reload();
          }}
        />
      ) : null}
      {data ? (
        <>
          <p>
            {data.meterType} · {data.currency}
            {data.description ? ` · ${data.description}` : ''}
          </p>
          <div class="stack">
            {[...data.versions].reverse().map((v) => (
              <Version key={v.version} tariff={data} version={v} current={v === current} />
            ))}
          </div>
        </>
      ) : null}
    </>
  );
}

export function Tariffs({ canOperate }: { canOperate: boolean }) {
  const { data, error, reload } = useApi<Items<Tariff>>('/tariffs?limit=500');
  const [creating, setCreating] = useState(false);
  const [saved, setSaved] = useState<Tariff | undefined>(undefined);
  return (
    <>
      <PageHeader title="Tariffs">
        {canOperate ? (
          <button class="primary" onClick={() => (setSaved(undefined), setCreating(true))}>
            New tariff
          </button>
        ) : null}
      </PageHeader>
      <ErrorLine error={error} />
      {saved ? (
        <p class="notice" role="status">
          Tariff <a href={href(`/tariffs/${saved.id}`)}>{saved.name}</a> saved, version 1 from {when(saved.versions[0]?.effectiveFrom)}.
        </p>
      ) : null}
      {creating ? (
        <NewTariff
          onClose={() => setCreating(false)}
          onSaved={(t) => {
            setCreating(false);
            setSaved(t);
            reload();
          }}
        />
      ) : null}
      <table class="list">
        <thead>
          <tr>
            <th>Tariff</th>
            <th>Meter type</th>
            <th>Currency</th>
            <th class="num">Versions</th>
            <th>Latest from</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((t) => (
            <tr key={t.id} data-tariff={t.name}>
              <td>
                <a href={href(`/tariffs/${t.id}`)}>{t.name}</a>
              </td>
              <td>{t.meterType}</td>
              <td>{t.currency}</td>
              <td class="num">{t.versions.length}</td>
              <td class="small">{when(t.versions.at(-1)?.effectiveFrom)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 ? <EmptyRow columns={5}>No tariffs yet.</EmptyRow> : null}
        </tbody>
      </table>
    </>
  );
}
