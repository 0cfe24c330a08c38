// A meter's readings over time, drawn with uPlot (canvas, ~50 KB): its cumulative value, and power when
// the meter reports it.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Reading } from '../types.ts';

export function ReadingsChart({ readings, unit }: { readings: Reading[]; unit: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || readings.length === 0) return;
    // The API lists newest first; uPlot wants time ascending.
    const ordered = [...readings].reverse();
    const xs = ordered.map((r) => new Date(r.readingDate).getTime() / 1000);
    const values = ordered.map((r) => Number(r.readingValue));
    const hasPower = ordered.some((r) => r.power !== null);
    const series: uPlot.Series[] = [{}, { label: `reading (${unit})`, stroke: '#2563eb', width: 2, scale: 'v' }];
    const data: uPlot.AlignedData = [xs, values];
    const axes: uPlot.Axis[] = [{}, { scale: 'v', label: unit }];
    if (hasPower) {
      series.push({ label: 'power (W)', stroke: '#d97706', width: 1, scale: 'w' });
      data.push(ordered.map((r) => r.power));
      axes.push({ scale: 'w', side: 1, label: 'W', grid: { show: false } });
    }
    const plot = new uPlot({ width: Math.max(320, el.clientWidth), height: 260, series, axes, scales: { x: { time: true } } }, data, el);
    return () => plot.destroy();
  }, [readings, unit]);
  if (readings.length === 0) return <p class="muted">No readings yet.</p>;
  return <div ref={ref} class="chart" data-points={readings.length} />;
}
