// Badges and tables the money pages share: an account's alert state, a payment's status, a list of payments.
import { Badge } from './bits.tsx';
import { when } from '../format.ts';
import { money } from '../money.ts';
import type { AlertState, Payment } from '../portal-types.ts';
import { href } from '../router.ts';

const alertText: Record<AlertState, string> = { ok: 'ok', low: 'low balance', critical: 'critical', exhausted: 'out of credit' };

export function AlertBadge({ state }: { state: AlertState }) {
  return (
    <Badge tone={state === 'ok' ? 'ok' : state === 'low' ? 'warn' : 'bad'}>
      <span data-alert-state={state}>{alertText[state]}</span>
    </Badge>
  );
}

export function PaymentBadge({ status }: { status: Payment['status'] }) {
  return (
    <Badge tone={status === 'applied' ? 'ok' : status === 'suspense' || status === 'conflict' ? 'warn' : status === 'received' ? 'info' : 'muted'}>
      <span data-payment-status={status}>{status === 'suspense' ? 'unallocated' : status}</span>
    </Badge>
  );
}

export function PaymentTable({ payments, showAccount, onAllocate }: { payments: Payment[]; showAccount?: boolean; onAllocate?: (p: Payment) => void }) {
  return (
    <table class="list payments">
      <thead>
        <tr>
          <th>Receipt</th>
          <th class="num">Amount</th>
          <th>Status</th>
          <th>Reference</th>
          <th>Phone</th>
          <th>Received</th>
          {showAccount ? <th>Account</th> : null}
          {onAllocate ? <th /> : null}
        </tr>
      </thead>
      <tbody>
        {payments.map((p) => (
          <tr key={p.id} data-receipt={p.receipt}>
            <td class="mono">{p.receipt}</td>
            <td class="num">{money(p.amountMinor, p.currency)}</td>
            <td>
              <PaymentBadge status={p.status} />
              {p.statusReason ? <div class="small muted">{p.statusReason}</div> : null}
            </td>
            <td class="mono">{p.accountReference ?? '—'}</td>
            <td>{p.phone ?? '—'}</td>
            <td class="small">{when(p.receivedAt)}</td>
            {showAccount ? <td>{p.accountId ? <a href={href(`/accounts/${p.accountId}`)}>account</a> : '—'}</td> : null}
            {onAllocate ? (
              <td>
                {p.status === 'suspense' ? (
                  <button class="small-button" onClick={() => onAllocate(p)}>
                    Allocate
                  </button>
                ) : null}
              </td>
            ) : null}
          </tr>
        ))}
        {payments.length === 0 ? (
          <tr>
            <td colSpan={8} class="muted">
              No payments.
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}
