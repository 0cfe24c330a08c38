// The estate at a glance; each figure links to the list behind it.
import { useCallback } from 'preact/hooks';
import { ErrorLine, PageHeader } from '../components/bits.tsx';
import { ago } from '../format.ts';
import { href } from '../router.ts';
import type { Discrepancy, Page } from '../portal-types.ts';
import type { Overview as OverviewData } from '../types.ts';
import { useApi } from '../use-api.ts';
import { useLive } from '../live.ts';
import { money } from '../money.ts';
import { usePoll } from '../use-poll.ts';

const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function Tile({ label, value, link, tone, note }: { label: string; value: number | string | undefined; link: string; tone?: 'bad' | 'warn'; note?: string }) {
  return (
    <a class={`tile ${tone && value ? `tile-${tone}` : ''}`} href={link} data-tile={label}>
      <span class="tile-value">{value ?? '…'}</span>
      <span class="tile-label">{label}</span>
      {note ? <span class="tile-label small">{note}</span> : null}
    </a>
  );
}

export function Overview() {
  const { data, error, reload } = useApi<OverviewData>(`/overview?tz=${encodeURIComponent(timeZone)}`);
  // Balance discrepancies are on no live topic either: their count follows the page's own reloads.
  const discrepancies = useApi<Page<Discrepancy>>('/balance-discrepancies?limit=1');
  const today = data?.today.money ?? [];
  useLive('commands', reload);
  useLive('meters', reload);
  useLive('payments', reload);
  useLive('accounts', reload);
  useLive('parking', reload);
  // The quarantine's size is on no live topic: it looks again every minute (every 15 s without the channel).
  const reloadDiscrepancies = discrepancies.reload;
  const reloadAll = useCallback(() => (reload(), reloadDiscrepancies()), [reload, reloadDiscrepancies]);
  usePoll(reloadAll, 15_000, 60_000);
  return (
    <>
      <PageHeader title="Overview">
        <span class="muted">{data ? `as of ${ago(data.at)}` : ''}</span>
        <button onClick={reloadAll}>Refresh</button>
      </PageHeader>
      <ErrorLine error={error ?? discrepancies.error} />
      <section class="tiles">
        <h2>Meters</h2>
        <div class="tile-row">
          <Tile label="meters" value={data?.meters.total} link={href('/meters')} />
          <Tile label="online" value={data?.meters.online} link={href('/meters', { status: 'online' })} />
          <Tile label="offline" value={data?.meters.offline} link={href('/meters', { status: 'offline' })} tone="bad" />
          <Tile label="never heard" value={data?.meters.unknown} link={href('/meters', { status: 'unknown' })} />
          <Tile label="disconnected" value={data?.meters.relayOff} link={href('/meters', { relay: 'off' })} tone="warn" />
        </div>
      </section>
      <section class="tiles">
        <h2>Commands</h2>
        <div class="tile-row">
          <Tile label="in flight" value={data?.commands.inFlight} link={href('/commands', { status: 'pending,queued,sent' })} />
          <Tile label="awaiting device" value={data?.commands.awaitingDevice} link={href('/commands', { status: 'sent' })} />
          <Tile label="delivery unknown" value={data?.commands.deliveryUnknown} link={href('/commands', { status: 'sent' })} tone="warn" />
          <Tile label="failed or expired (24 h)" value={data?.commands.failedSince} link={href('/commands', { status: 'failed,expired' })} tone="bad" />
        </div>
      </section>
      <section class="tiles">
        <h2>Accounts and payments</h2>
        <div class="tile-row">
          <Tile label="accounts" value={data?.accounts.total} link={href('/accounts')} />
          <Tile label="low balance" value={data?.accounts.low} link={href('/accounts', { alert: 'low,critical' })} tone="warn" />
          <Tile label="out of credit" value={data?.accounts.exhausted} link={href('/accounts', { alert: 'exhausted' })} tone="bad" />
          <Tile
            label="unallocated payments"
            value={data?.suspense.count}
            link={href('/payments', { status: 'suspense' })}
            tone="warn"
            {...(data?.suspense.count ? { note: money(data.suspense.amountMinor, today[0]?.currency) } : {})}
          />
          <Tile label="balance discrepancies" value={discrepancies.data?.total} link={href('/discrepancies')} tone="warn" note="ESP32 reports ≠ ledger" />
        </div>
      </section>
      <section class="tiles">
        <h2>Today{data ? <span class="muted small"> since {new Date(data.today.from).toLocaleString()} ({data.today.timezone})</span> : null}</h2>
        <div class="tile-row">
          {(today.length ? today : [{ currency: '', payments: 0, revenueMinor: 0, consumptionMinor: 0 }]).flatMap((m) => [
              <Tile
                key={`r-${m.currency}`}
                label="revenue received"
                value={data ? (m.currency ? money(m.revenueMinor, m.currency) : '0') : undefined}
                note={`${m.payments} payment${m.payments === 1 ? '' : 's'}`}
                link={href('/payments', { from: data?.today.from })}
              />,
              <Tile key={`c-${m.currency}`} label="consumption billed" value={data ? (m.currency ? money(m.consumptionMinor, m.currency) : '0') : undefined} link={href('/accounts')} />,
            ])}
        </div>
      </section>
      <section class="tiles">
        <h2>Ingestion</h2>
        <div class="tile-row">
          <Tile label="in quarantine" value={data?.quarantine.new} link={href('/quarantine')} tone="warn" />
        </div>
      </section>
    </>
  );
}
