// Payments: every payment the platform has heard of, filtered by status — "unallocated" (suspense) ones
// first among them: a payment whose reference named no account. An operator allocates one to an account
// behind a confirmation that names the account and what the credit does.
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorLine, PageHeader, Pager } from '../components/bits.tsx';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { useLive } from '../live.ts';
import { PaymentTable } from '../components/money-bits.tsx';
import { money } from '../money.ts';
import type { Account, Page, Payment } from '../portal-types.ts';
import { href, navigate, type Route } from '../router.ts';
import type { Items } from '../types.ts';
import { useApi } from '../use-api.ts';
import { usePoll } from '../use-poll.ts';

const PAGE = 50;
const noop = () => {};
const statuses: [string, string][] = [
  ['', 'any status'],
  ['suspense', 'unallocated (suspense)'],
  ['applied', 'applied'],
  ['received', 'received'],
  ['conflict', 'conflict'],
  ['failed', 'failed'],
  ['reversed', 'reversed'],
];

function AllocateDialog({ payment, onClose, onDone }: { payment: Payment; onClose: () => void; onDone: (account: Account) => void }) {
  const [accountNo, setAccountNo] = useState(payment.accountReference ?? '');
  const wanted = accountNo.trim();
  const found = useApi<Items<Account>>(wanted ? `/accounts?accountNo=${encodeURIComponent(wanted)}&limit=1` : undefined);
  const account = wanted ? found.data?.items[0] : undefined;
  return (
    <ConfirmDialog
      title={`Allocate payment ${payment.receipt}?`}
      confirmLabel="Allocate"
      onClose={onClose}
      onConfirm={async () => {
        if (!account) throw new Error(wanted ? `No account is numbered ${wanted}.` : 'Give the account number to credit.');
        await api(`/payments/${payment.id}/allocate`, { method: 'POST', body: { accountId: account.id } });
        onDone(account);
      }}
    >
      <p>
        {money(payment.amountMinor, payment.currency)} paid{payment.phone ? ` from ${payment.phone}` : ''} with the reference{' '}
        <strong class="mono">{payment.accountReference ?? '(none)'}</strong>, which named no account.
      </p>
      <label class="field">
        <span>Account number to credit</span>
        <input name="accountNo" value={accountNo} onInput={(e) => setAccountNo(e.currentTarget.value)} />
      </label>
      {account ? (
        <p class="consequence" data-allocate-to={account.accountNo}>
          This credits <strong>{money(payment.amountMinor, payment.currency)}</strong> to account <strong>{account.accountNo}</strong> (balance now{' '}
          {money(account.balanceMinor, account.currency)}, then {money(account.balanceMinor + payment.amountMinor, account.currency)}); a disconnected
          meter on it is reconnected if the balance allows. Only an admin can undo it, by reversing the payment.
        </p>
      ) : wanted && found.data ? (
        <p class="error">No account is numbered {wanted}.</p>
      ) : null}
      <p class="small muted">The allocation is recorded in the audit log under your name.</p>
    </ConfirmDialog>
  );
}

export function Payments({ route, canOperate }: { route: Route; canOperate: boolean }) {
  const status = route.query.get('status') ?? '';
  const from = route.query.get('from') ?? '';
  const receipt = route.query.get('receipt') ?? '';
  const offset = Number(route.query.get('offset') ?? 0) || 0;
  const [search, setSearch] = useState(receipt);
  const [allocating, setAllocating] = useState<Payment | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (status) params.set('status', status);
  if (from) params.set('from', from);
  if (receipt) params.set('receipt', receipt);
  const { data, error, loading, reload } = useApi<Page<Payment>>(`/payments?${params}`);
  // A payment received, applied, held or allocated reloads the list (not while a dialog is open); without
  // the live channel, it looks again every 10 s.
  useLive('payments', allocating ? noop : reload);
  usePoll(allocating ? noop : reload, 10_000);
  const go = (next: Record<string, string | undefined>) => navigate(href('/payments', { status, from, receipt, ...next }));
  return (
    <>
      <PageHeader title={status === 'suspense' ? 'Unallocated payments' : 'Payments'}>
        <span class="muted small">{data ? `${data.total} payments` : ''}</span>
        <button onClick={reload}>Refresh</button>
      </PageHeader>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ receipt: search.trim(), offset: undefined });
        }}
      >
        <input type="search" placeholder="M-Pesa receipt" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="Search payments" />
        <button type="submit">Search</button>
        <select aria-label="Payment status" value={status} onChange={(e) => go({ status: e.currentTarget.value, offset: undefined })}>
          {statuses.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        {from ? (
          <span class="small muted">
            received since {new Date(from).toLocaleString()} <a href={href('/payments', { status, receipt })}>(any time)</a>
          </span>
        ) : null}
      </form>
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <ErrorLine error={error} />
      <div aria-busy={loading}>{data ? <PaymentTable payments={data.items} showAccount {...(canOperate ? { onAllocate: setAllocating } : {})} /> : null}</div>
      <Pager path="/payments" query={{ status, from, receipt }} offset={offset} page={PAGE} more={!!data && offset + PAGE < data.total} />
      {allocating ? (
        <AllocateDialog
          payment={allocating}
          onClose={() => setAllocating(undefined)}
          onDone={(account) => {
            setNotice(`Payment ${allocating.receipt} allocated to account ${account.accountNo}.`);
            reload();
          }}
        />
      ) : null}
    </>
  );
}
