// Customers' accounts: searchable by customer name or account number, filtered by alert state (the
// overview's "low" and "exhausted" figures link here).
import { useState } from 'preact/hooks';
import { EmptyRow, ErrorLine, PageHeader, Pager } from '../components/bits.tsx';
import { AlertBadge } from '../components/money-bits.tsx';
import { when } from '../format.ts';
import { useLive } from '../live.ts';
import { money } from '../money.ts';
import type { Account, Page } from '../portal-types.ts';
import { href, navigate, type Route } from '../router.ts';
import { useApi } from '../use-api.ts';

const PAGE = 50;

export function Accounts({ route }: { route: Route }) {
  const q = route.query.get('q') ?? '';
  const alert = route.query.get('alert') ?? '';
  const offset = Number(route.query.get('offset') ?? 0) || 0;
  const [search, setSearch] = useState(q);
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (q) params.set('q', q);
  if (alert) params.set('alertState', alert);
  const { data, error, loading, reload } = useApi<Page<Account>>(`/accounts?${params}`);
  // A balance moving (a payment applied, a bill) reloads the list.
  useLive('accounts', reload);
  const go = (next: Record<string, string | undefined>) => navigate(href('/accounts', { q, alert, ...next }));
  return (
    <>
      <PageHeader title="Accounts">
        <span class="muted small">{data ? `${data.total} accounts` : ''}</span>
      </PageHeader>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ q: search.trim(), offset: undefined });
        }}
      >
        <input type="search" placeholder="Customer name or account number" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="Search accounts" />
        <button type="submit">Search</button>
        <select aria-label="Alert state" value={alert} onChange={(e) => go({ alert: e.currentTarget.value, offset: undefined })}>
          <option value="">any alert state</option>
          <option value="ok">ok</option>
          <option value="low,critical">low or critical</option>
          <option value="exhausted">out of credit</option>
        </select>
      </form>
      <ErrorLine error={error} />
      <table class="list" aria-busy={loading}>
        <thead>
          <tr>
            <th>Account</th>
            <th>Customer</th>
            <th class="num">Balance</th>
            <th>Alert</th>
            <th>Status</th>
            <th>Opened</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((a) => (
            <tr key={a.id} data-account-no={a.accountNo}>
              <td>
                <a href={href(`/accounts/${a.id}`)}>{a.accountNo}</a>
              </td>
              <td>{a.customerName ?? '—'}</td>
              <td class="num">{money(a.balanceMinor, a.currency)}</td>
              <td>
                <AlertBadge state={a.alertState} />
              </td>
              <td>{a.status}</td>
              <td class="small">{when(a.createdAt)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 ? (
            <EmptyRow columns={6}>No accounts match.</EmptyRow>
          ) : null}
        </tbody>
      </table>
      <Pager path="/accounts" query={{ q, alert }} offset={offset} page={PAGE} more={!!data && offset + PAGE < data.total} />
    </>
  );
}
