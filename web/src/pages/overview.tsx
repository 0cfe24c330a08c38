// The estate at a glance; each figure links to the list behind it.
import { ErrorLine, PageHeader } from '../components/bits.tsx';
import { ago } from '../format.ts';
import { href } from '../router.ts';
import type { Overview as OverviewData } from '../types.ts';
import { useApi } from '../use-api.ts';
import { useLive } from '../live.ts';

function Tile({ label, value, link, tone }: { label: string; value: number | undefined; link: string; tone?: 'bad' | 'warn' }) {
  return (
    <a class={`tile ${tone && value ? `tile-${tone}` : ''}`} href={link} data-tile={label}>
      <span class="tile-value">{value ?? '…'}</span>
      <span class="tile-label">{label}</span>
    </a>
  );
}

export function Overview() {
  const { data, error, reload } = useApi<OverviewData>('/overview');
  useLive('commands', reload);
  return (
    <>
      <PageHeader title="Overview">
        <span class="muted">{data ? `as of ${ago(data.at)}` : ''}</span>
        <button onClick={reload}>Refresh</button>
      </PageHeader>
      <ErrorLine error={error} />
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
        <h2>Ingestion</h2>
        <div class="tile-row">
          <Tile label="in quarantine" value={data?.quarantine.new} link={href('/quarantine')} tone="warn" />
        </div>
      </section>
    </>
  );
}
