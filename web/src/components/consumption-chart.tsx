// A meter's consumption per hour, day or month (GET /meters/{id}/consumption), as uPlot bars. A bucket
// without readings is a gap (no bar, and the line breaks there), not a zero.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { num } from '../format.ts';
import type { Consumption } from '../portal-types.ts';
import { useApi } from '../use-api.ts';
import { ErrorLine } from './bits.tsx';

type Interval = Consumption['interval'];
const spans: Record<Interval, { label: string; ms: number }> = {
  hour: { label: 'last 48 hours', ms: 48 * 3_600_000 },
  day: { label: 'last 31 days', ms: 31 * 86_400_000 },
  month: { label: 'last 12 months', ms: 366 * 86_400_000 },
};

function Bars({ data, unit }: { data: Consumption; unit: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || data.items.length === 0) return;
    const xs = data.items.map((b) => new Date(b.start).getTime() / 1000);
    const ys = data.items.map((b) => (b.gap || b.consumption === null ? null : b.consumption));
    const bars = uPlot.paths.bars?.({ size: [0.8, 60], align: 1 });
    const plot = new uPlot(
      {
        width: Math.max(320, el.clientWidth),
        height: 240,
        series: [{}, { label: `consumption (${unit})`, stroke: '#2563eb', fill: 'rgba(37, 99, 235, 0.35)', width: 1, ...(bars ? { paths: bars } : {}), points: { show: false } }],
        axes: [{}, { label: unit }],
        scales: { x: { time: true } },
      },
      [xs, ys],
      el,
    );
    return () => plot.destroy();
  }, [data, unit]);
  return <div ref={ref} class="chart" data-interval={data.interval} data-buckets={data.items.length} data-gaps={data.items.filter((b) => b.gap).length} />;
}

export function ConsumptionChart({ meterId, unit }: { meterId: string; unit: string }) {
  const [interval, setInterval] = useState<Interval>('day');
  // The window ends at the next whole hour so the answer stays the same for a while (and caches).
  const [to] = useState(() => new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000));
  const from = new Date(to.getTime() - spans[interval].ms);
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const q = new URLSearchParams({ interval, from: from.toISOString(), to: to.toISOString(), ...(tz ? { tz } : {}) });
  const { data, error } = useApi<Consumption>(`/meters/${meterId}/consumption?${q}`);
  const total = data?.items.reduce((sum, b) => sum + (b.consumption ?? 0), 0);
  const gaps = data?.items.filter((b) => b.gap).length ?? 0;
  return (
    <div>
      <div class="filters" role="group" aria-label="Consumption interval">
        {(Object.keys(spans) as Interval[]).map((i) => (
          <button key={i} class={i === interval ? 'primary' : ''} aria-pressed={i === interval} onClick={() => setInterval(i)}>
            by {i}
          </button>
        ))}
        <span class="muted small">
          {spans[interval].label}
          {data ? ` · ${num(total)} ${unit} in all · ${gaps} of ${data.items.length} ${interval}s without readings (gaps) · ${data.timezone}` : ''}
        </span>
      </div>
      <ErrorLine error={error} />
      {data && data.interval === interval ? <Bars data={data} unit={unit} /> : null}
    </div>
  );
}
