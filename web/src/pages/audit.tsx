// The audit log (admins): who changed what and why, newest first, filtered by actor, action and target.
import { useState } from 'preact/hooks';
import { EmptyRow, ErrorLine, PageHeader, Pager } from '../components/bits.tsx';
import { when } from '../format.ts';
import type { AuditEntry, Page } from '../portal-types.ts';
import { href, navigate, type Route } from '../router.ts';
import { useApi } from '../use-api.ts';

const PAGE = 50;
const keys = ['actor', 'action', 'targetType', 'targetId'] as const;

const targetLink = (e: AuditEntry): string | undefined =>
  !e.targetId
    ? undefined
    : e.targetType === 'meter'
      ? href(`/meters/${e.targetId}`)
      : e.targetType === 'account'
        ? href(`/accounts/${e.targetId}`)
        : e.targetType === 'parking_space'
          ? href(`/parking/${e.targetId}`)
          : e.targetType === 'tariff'
            ? href(`/tariffs/${e.targetId}`)
            : undefined;

export function Audit({ route }: { route: Route }) {
  const filter = Object.fromEntries(keys.map((k) => [k, route.query.get(k) ?? ''])) as Record<(typeof keys)[number], string>;
  const offset = Number(route.query.get('offset') ?? 0) || 0;
  const [form, setForm] = useState(filter);
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  for (const k of keys) if (filter[k]) params.set(k, filter[k]);
  const { data, error, loading } = useApi<Page<AuditEntry>>(`/audit?${params}`);
  return (
    <>
      <PageHeader title="Audit log">
        <span class="muted small">{data ? `${data.total} entries` : ''}</span>
      </PageHeader>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(href('/audit', { ...form }));
        }}
      >
        {keys.map((k) => (
          <input key={k} placeholder={k} aria-label={`Filter by ${k}`} value={form[k]} onInput={(e) => setForm({ ...form, [k]: e.currentTarget.value.trim() })} />
        ))}
        <button type="submit">Filter</button>
      </form>
      <ErrorLine error={error} />
      <table class="list" aria-busy={loading}>
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>Action</th>
            <th>Target</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((e) => {
            const link = targetLink(e);
            return (
              <tr key={e.id} data-action={e.action}>
                <td class="small">{when(e.at)}</td>
                <td>
                  {e.actor} <span class="muted small">{e.role}</span>
                </td>
                <td class="mono">{e.action}</td>
                <td class="small">
                  {e.targetType} {link ? <a href={link}>{e.targetId}</a> : <span class="mono">{e.targetId ?? ''}</span>}
                </td>
                <td class="mono small">{e.details === null ? '' : JSON.stringify(e.details)}</td>
              </tr>
            );
          })}
          {data && data.items.length === 0 ? (
            <EmptyRow columns={5}>Nothing matches.</EmptyRow>
          ) : null}
        </tbody>
      </table>
      <Pager path="/audit" query={filter} offset={offset} page={PAGE} more={!!data && offset + PAGE < data.total} />
    </>
  );
}
