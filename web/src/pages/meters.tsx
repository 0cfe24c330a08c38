// The meters: searchable by meter number, serial or DevEUI, filtered by communication and relay state.
import { useState } from 'preact/hooks';
import { CommStatus, EmptyRow, ErrorLine, PageHeader, Pager, RelayBadge } from '../components/bits.tsx';
import { RegisterMeter } from '../components/register-meter.tsx';
import { useLive } from '../live.ts';
import { ago, num } from '../format.ts';
import { href, navigate, type Route } from '../router.ts';
import type { Page } from '../portal-types.ts';
import type { Meter } from '../types.ts';
import { useApi } from '../use-api.ts';

const PAGE = 50;

export function Meters({ route, canOperate }: { route: Route; canOperate: boolean }) {
  const q = route.query.get('q') ?? '';
  const status = route.query.get('status') ?? '';
  const relay = route.query.get('relay') ?? '';
  const offset = Number(route.query.get('offset') ?? 0) || 0;
  const [search, setSearch] = useState(q);
  const [registering, setRegistering] = useState(false);
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (q) params.set('q', q);
  if (status) params.set('communicationStatus', status);
  if (relay) params.set('relayState', relay);
  const { data, error, loading, reload } = useApi<Page<Meter>>(`/meters?${params}`);
  useLive('meters', reload);
  const go = (next: Record<string, string | undefined>) => navigate(href('/meters', { q, status, relay, ...next }));
  return (
    <>
      <PageHeader title="Meters">
        <span class="muted small">{data ? `${data.total} meters` : ''}</span>
        {canOperate ? (
          <button class="primary" onClick={() => setRegistering(true)}>
            Register meter
          </button>
        ) : null}
      </PageHeader>
      {registering ? <RegisterMeter onClose={() => setRegistering(false)} onRegistered={(m) => navigate(href(`/meters/${m.id}`))} /> : null}
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ q: search.trim(), offset: undefined });
        }}
      >
        <input type="search" name="q" placeholder="Meter number, serial or DevEUI" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="Search meters" />
        <button type="submit">Search</button>
        <select aria-label="Communication status" value={status} onChange={(e) => go({ status: e.currentTarget.value, offset: undefined })}>
          <option value="">any status</option>
          <option value="online">online</option>
          <option value="offline">offline</option>
          <option value="unknown">never heard</option>
        </select>
        <select aria-label="Relay state" value={relay} onChange={(e) => go({ relay: e.currentTarget.value, offset: undefined })}>
          <option value="">any relay state</option>
          <option value="on">supply on</option>
          <option value="off">disconnected</option>
          <option value="unknown">relay unknown</option>
        </select>
      </form>
      <ErrorLine error={error} />
      <table class="list" aria-busy={loading}>
        <thead>
          <tr>
            <th>Meter</th>
            <th>DevEUI</th>
            <th>Type</th>
            <th>Status</th>
            <th>Relay</th>
            <th class="num">Last reading</th>
            <th>When</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((m) => (
            <tr key={m.id} data-meter-no={m.meterNo}>
              <td>
                <a href={href(`/meters/${m.id}`)}>{m.meterNo}</a>
              </td>
              <td class="mono">{m.devEui ?? '—'}</td>
              <td>{m.meterType}</td>
              <td>
                <CommStatus status={m.communicationStatus} />
              </td>
              <td>
                <RelayBadge state={m.relayState} />
              </td>
              <td class="num">
                {num(m.lastReading)} {m.lastReading !== null ? m.unit : ''}
              </td>
              <td>{ago(m.lastReadingDate)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 ? (
            <EmptyRow columns={7}>No meters match.</EmptyRow>
          ) : null}
        </tbody>
      </table>
      <Pager path="/meters" query={{ q, status, relay }} offset={offset} page={PAGE} more={!!data && offset + PAGE < data.total} />
    </>
  );
}
