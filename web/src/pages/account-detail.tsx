// One account: its balance, alert state and days of credit left (from the last 14 days' average daily
// spend), its customer and meters, its statement (and the CSV the API makes of it), its payments, and
// "Request STK Push" (operators and admins) behind a confirmation that says what the customer will see.
import { useCallback, useState } from 'preact/hooks';
import { api, apiDownload, errorText } from '../api.ts';
import { ErrorLine, PageHeader } from '../components/bits.tsx';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { AlertBadge, PaymentTable } from '../components/money-bits.tsx';
import { ago, num, when } from '../format.ts';
import { useLive } from '../live.ts';
import { money, toMinor } from '../money.ts';
import type { AccountDetail as AccountData, Customer, Payment, Statement, StkRequest } from '../portal-types.ts';
import { href } from '../router.ts';
import type { Items } from '../types.ts';
import { useApi } from '../use-api.ts';
import { usePoll } from '../use-poll.ts';

const noop = () => {};

function StkDialog({ account, phone, onClose, onSent }: { account: AccountData; phone: string; onClose: () => void; onSent: (r: StkRequest) => void }) {
  const [to, setTo] = useState(phone);
  const [amount, setAmount] = useState('');
  return (
    <ConfirmDialog
      title={`Request an M-Pesa payment for ${account.accountNo}?`}
      confirmLabel="Send STK Push"
      onClose={onClose}
      onConfirm={async () => {
        const amountMinor = toMinor(amount);
        if (!amountMinor || amountMinor % 100 !== 0) throw new Error('Give the amount in whole shillings (M-Pesa takes no cents).');
        onSent(await api<StkRequest>(`/accounts/${account.id}/stk-push`, { method: 'POST', body: { phone: to.trim(), amountMinor } }));
      }}
    >
      <p>
        The customer's phone gets an M-Pesa prompt to pay into account <strong>{account.accountNo}</strong>. Nothing is credited until they enter
        their PIN and M-Pesa confirms; the payment then appears on the statement.
      </p>
      <label class="field">
        <span>Phone (E.164)</span>
        <input name="phone" value={to} placeholder="+2547…" onInput={(e) => setTo(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Amount ({account.currency})</span>
        <input name="amount" inputMode="numeric" value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
      </label>
    </ConfirmDialog>
  );
}

export function AccountDetail({ id, canOperate }: { id: string; canOperate: boolean }) {
  const account = useApi<AccountData>(`/accounts/${id}`);
  const customer = useApi<Customer>(account.data ? `/customers/${account.data.customerId}` : undefined);
  const statement = useApi<Statement>(`/accounts/${id}/statement?limit=1000`);
  const payments = useApi<Items<Payment>>(`/payments?accountId=${id}&limit=50`);
  const [asking, setAsking] = useState(false);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [downloadError, setDownloadError] = useState<string | undefined>(undefined);
  const { reload: reloadAccount } = account;
  const { reload: reloadStatement } = statement;
  const { reload: reloadPayments } = payments;
  const reload = useCallback(() => (reloadAccount(), reloadStatement(), reloadPayments()), [reloadAccount, reloadStatement, reloadPayments]);
  // The balance (a payment applied, a bill), this account's payments and its meters reload on their events
  // (not while a dialog is open); without the live channel, they look again every 10 s.
  const live = asking ? noop : reload;
  useLive('accounts', live, (e) => e.accountId === id);
  useLive('payments', live, (e) => e.accountId === id);
  useLive('meters', live, (e) => Boolean(account.data?.meters.some((m) => m.id === e.meterId)));
  usePoll(live, 10_000);
  const a = account.data;
  const lines = statement.data ? [...statement.data.items].reverse() : [];
  return (
    <>
      <PageHeader title={a ? `Account ${a.accountNo}` : 'Account'}>
        <a href={href('/accounts')}>← all accounts</a>
        <button onClick={reload}>Refresh</button>
      </PageHeader>
      <ErrorLine error={account.error} />
      {a ? (
        <section class="grid">
          <div class="card" data-balance-minor={a.balanceMinor}>
            <h2>Balance</h2>
            <p class="big">{money(a.balanceMinor, a.currency)}</p>
            <dl>
              <dt>Alert</dt>
              <dd>
                <AlertBadge state={a.alertState} />
                {a.alertStateAt ? <span class="small muted"> since {ago(a.alertStateAt)}</span> : null}
              </dd>
              <dt>Credit left</dt>
              <dd data-days-left={a.forecast.daysLeft ?? ''}>
                {a.forecast.daysLeft === null ? 'no spend in the last 14 days' : `about ${num(a.forecast.daysLeft, 1)} days`}
              </dd>
              <dt>Daily spend</dt>
              <dd>
                {money(a.forecast.dailySpendMinor, a.currency)} <span class="small muted">(average over {a.forecast.basisDays} days)</span>
              </dd>
              <dt>Low below</dt>
              <dd>{money(a.lowBalanceThresholdMinor, a.currency)}</dd>
              <dt>Status</dt>
              <dd>{a.status}</dd>
            </dl>
            {canOperate ? (
              <div class="actions">
                <button class="primary" onClick={() => setAsking(true)}>
                  Request STK Push
                </button>
              </div>
            ) : null}
            {notice ? (
              <p class="notice" role="status">
                {notice}
              </p>
            ) : null}
          </div>
          <div class="card">
            <h2>Customer</h2>
            {customer.data ? (
              <dl>
                <dt>Name</dt>
                <dd>{customer.data.name}</dd>
                <dt>Phone</dt>
                <dd>{customer.data.phone ?? '—'}</dd>
                <dt>Email</dt>
                <dd>{customer.data.email ?? '—'}</dd>
              </dl>
            ) : (
              <ErrorLine error={customer.error} />
            )}
            <h2>Meters</h2>
            {a.meters.length ? (
              <ul>
                {a.meters.map((m) => (
                  <li key={m.id}>
                    <a href={href(`/meters/${m.id}`)}>{m.meterNo}</a> <span class="muted small">{m.meterType}</span>
                  </li>
                ))}
              </ul>
            ) : (
              <p class="muted">No meter is linked.</p>
            )}
            <h2>Last payment</h2>
            <p>{a.lastPayment ? `${money(a.lastPayment.amountMinor, a.lastPayment.currency)} ${ago(a.lastPayment.receivedAt)} (${a.lastPayment.receipt})` : 'none yet'}</p>
          </div>
        </section>
      ) : null}
      {asking && a ? (
        <StkDialog
          account={a}
          phone={customer.data?.phone ?? ''}
          onClose={() => setAsking(false)}
          onSent={(r) => setNotice(`STK Push ${r.status}: ${money(r.amountMinor, a.currency)} asked of ${r.phone}. The payment shows here once M-Pesa confirms it.`)}
        />
      ) : null}
      <section>
        <header class="page-header">
          <h2>Statement</h2>
          <button
            onClick={() => {
              setDownloadError(undefined);
              apiDownload(`/accounts/${id}/statement?limit=10000`, 'text/csv', `statement-${a?.accountNo ?? id}.csv`).catch((e: unknown) => setDownloadError(errorText(e)));
            }}
          >
            Download CSV
          </button>
        </header>
        <ErrorLine error={statement.error ?? downloadError} />
        {statement.data ? (
          <table class="list statement">
            <thead>
              <tr>
                <th>When</th>
                <th>Entry</th>
                <th>Description</th>
                <th class="num">Amount</th>
                <th class="num">Balance after</th>
              </tr>
            </thead>
            <tbody>
              {lines.map((l) => (
                <tr key={l.entryId} data-entry-type={l.entryType}>
                  <td class="small">{when(l.at)}</td>
                  <td>{l.entryType}</td>
                  <td class="small">
                    {l.description ?? ''}
                    {l.reason ? <div class="muted">“{l.reason}”</div> : null}
                  </td>
                  <td class={`num ${l.amountMinor < 0 ? 'error' : ''}`}>{money(l.amountMinor, statement.data?.account.currency)}</td>
                  <td class="num">{money(l.balanceAfterMinor, statement.data?.account.currency)}</td>
                </tr>
              ))}
              {lines.length === 0 ? (
                <tr>
                  <td colSpan={5} class="muted">
                    No entries yet.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        ) : null}
      </section>
      <section>
        <h2>Payments</h2>
        <ErrorLine error={payments.error} />
        {payments.data ? <PaymentTable payments={payments.data.items} /> : null}
      </section>
    </>
  );
}
