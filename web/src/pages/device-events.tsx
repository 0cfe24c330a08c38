// A device's events (joins, status reports, alarms, errors), newest first, from GET /devices/{id}/events.
import { EmptyRow, ErrorLine, PageHeader, Pager } from '../components/bits.tsx';
import { when } from '../format.ts';
import type { DeviceEvent, Page } from '../portal-types.ts';
import { href, type Route } from '../router.ts';
import type { Device } from '../types.ts';
import { useApi } from '../use-api.ts';

const PAGE = 100;

export function DeviceEvents({ id, route }: { id: string; route: Route }) {
  const offset = Number(route.query.get('offset') ?? 0) || 0;
  const back = route.query.get('meter');
  const device = useApi<Device>(`/devices/${id}`);
  const { data, error } = useApi<Page<DeviceEvent>>(`/devices/${id}/events?limit=${PAGE}&offset=${offset}`);
  const d = device.data;
  return (
    <>
      <PageHeader title={d ? `Events of ${d.devEui ?? d.meterNo ?? d.deviceType}` : 'Device events'}>
        {back ? <a href={href(`/meters/${back}`)}>← meter</a> : null}
        <span class="muted small">{data ? `${data.total} events` : ''}</span>
      </PageHeader>
      <ErrorLine error={error ?? device.error} />
      <table class="list">
        <thead>
          <tr>
            <th>When</th>
            <th>Type</th>
            <th>Level</th>
            <th>What</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((e) => (
            <tr key={e.id} data-event-type={e.type}>
              <td class="small">{when(e.time)}</td>
              <td>{e.type}</td>
              <td>{e.level ?? '—'}</td>
              <td class="small">
                {e.code ? <span class="mono">{e.code} </span> : null}
                {e.description ?? ''}
                {e.details ? <div class="mono muted">{JSON.stringify(e.details)}</div> : null}
              </td>
            </tr>
          ))}
          {data && data.items.length === 0 ? (
            <EmptyRow columns={4}>No events.</EmptyRow>
          ) : null}
        </tbody>
      </table>
      <Pager path={`/devices/${id}/events`} query={{ meter: back ?? undefined }} offset={offset} page={PAGE} more={!!data && offset + PAGE < data.total} newest />
    </>
  );
}
