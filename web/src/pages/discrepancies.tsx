// ESP32 balance reports that disagreed with the ledger (GET /balance-discrepancies), newest first, paged,
// optionally of one meter (its number or id; a meter's page links here). The ledger stays the truth: each
// was answered by pushing the correct balance again (its resync command).
import { useState } from 'preact/hooks';
import { EmptyRow, ErrorLine, PageHeader, Pager } from '../components/bits.tsx';
import { num, when } from '../format.ts';
import type { Discrepancy, Page } from '../portal-types.ts';
import { href, navigate, type Route } from '../router.ts';
import { useApi } from '../use-api.ts';

const PAGE = 50;

const amount = (d: Discrepancy, value: number) => (d.unit === 'currency' ? num(value, 2) : `${num(value)} units`);

export function Discrepancies({ route }: { route: Route }) {
  const meter = route.query.get('meter') ?? '';
  const offset = Number(route.query.get('offset') ?? 0) || 0;
  const [search, setSearch] = useState(meter);
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (meter) params.set('meter', meter);
  const { data, error, loading, reload } = useApi<Page<Discrepancy>>(`/balance-discrepancies?${params}`);
  return (
    <>
      <PageHeader title="Balance discrepancies">
        <span class="muted small">{data ? `${data.total} in all` : ''}</span>
        <button onClick={reload}>Refresh</button>
      </PageHeader>
      <p class="small muted">
        Balances ESP32 meters reported that differed from the ledger by more than the tolerance. Nothing was posted: the correct balance was sent to
        the meter again.
      </p>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(href('/discrepancies', { meter: search.trim() }));
        }}
      >
        <input type="search" placeholder="Meter number or id" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="Filter by meter" />
        <button type="submit">Filter</button>
      </form>
      <ErrorLine error={error} />
      <table class="list" aria-busy={loading}>
        <thead>
          <tr>
            <th>Detected</th>
            <th>Meter</th>
            <th>Account</th>
            <th class="num">Reported</th>
            <th class="num">Ledger</th>
            <th class="num">Difference</th>
            <th class="num">Tolerance</th>
            <th>Reported at</th>
            <th>Resync</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((d) => (
            <tr key={d.id} data-discrepancy={d.meterNo}>
              <td class="small">{when(d.detectedAt)}</td>
              <td>
                <a href={href(`/meters/${d.meterId}`)}>{d.meterNo}</a>
              </td>
              <td>{d.accountId ? <a href={href(`/accounts/${d.accountId}`)}>account</a> : '—'}</td>
              <td class="num">{amount(d, d.reported)}</td>
              <td class="num">{amount(d, d.expected)}</td>
              <td class="num">{amount(d, d.difference)}</td>
              <td class="num">{amount(d, d.tolerance)}</td>
              <td class="small">{when(d.reportedAt)}</td>
              <td class="small">{d.resyncCommandId ? 'balance sent again' : '—'}</td>
            </tr>
          ))}
          {data && data.items.length === 0 ? <EmptyRow columns={9}>No balance discrepancies.</EmptyRow> : null}
        </tbody>
      </table>
      <Pager path="/discrepancies" query={{ meter }} offset={offset} page={PAGE} more={!!data && offset + PAGE < data.total} newest />
    </>
  );
}
