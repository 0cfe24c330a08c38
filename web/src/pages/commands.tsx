// Device commands across the estate, by status (the overview's in-flight and failed links land here).
import { CommandTable } from '../components/command-table.tsx';
import { ErrorLine, PageHeader } from '../components/bits.tsx';
import { useLive } from '../live.ts';
import { href, navigate, type Route } from '../router.ts';
import type { Command, Items } from '../types.ts';
import { useApi } from '../use-api.ts';

const filters: [string, string][] = [
  ['', 'all'],
  ['pending,queued,sent', 'in flight'],
  ['sent', 'sent (awaiting device or unknown)'],
  ['confirmed', 'confirmed'],
  ['failed,expired', 'failed or expired'],
  ['cancelled', 'cancelled'],
];

export function Commands({ route, canOperate }: { route: Route; canOperate: boolean }) {
  const status = route.query.get('status') ?? '';
  const { data, error, reload } = useApi<Items<Command>>(`/commands?limit=100${status ? `&status=${encodeURIComponent(status)}` : ''}`);
  useLive('commands', reload);
  return (
    <>
      <PageHeader title="Commands">
        <select aria-label="Command status" value={status} onChange={(e) => navigate(href('/commands', { status: e.currentTarget.value }))}>
          {filters.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </PageHeader>
      <ErrorLine error={error} />
      {data ? <CommandTable commands={data.items} canCancel={canOperate} showMeter onChanged={reload} /> : null}
    </>
  );
}
