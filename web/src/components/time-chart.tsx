/**
 * A time-series chart (uPlot, drawn on a canvas). Time is in unix seconds; by default the x axis
 * spans the last `windowSecs` up to now, so a chart with few points still reads as "the last 15
 * minutes". Missing values (null) are gaps.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  values: readonly (number | null)[];
  color: string;
  /** dashed, e.g. a threshold */
  dash?: number[];
  /** draw points too (sparse series, such as one per drift window) */
  points?: boolean;
}

export interface TimeChartProps {
  title: string;
  t: readonly number[];
  series: ChartSeries[];
  /** how a y value reads in the legend, e.g. (v) => `${v} ms` */
  format?: (v: number) => string;
  /** the y axis's unit: ticks read 250 ms, 40% */
  unit?: 'ms' | '%' | '';
  height?: number;
  /** x spans the last this many seconds up to now; null: the data's own extent */
  windowSecs?: number | null;
  /** a fixed y range (e.g. [0, 1] for shares); default 0 up to the data */
  yRange?: [number, number];
  testId?: string;
}

function yScale(fixed: [number, number] | undefined): uPlot.Scale.Range {
  if (fixed) return () => fixed;
  return (_u, _min, max) => [0, max !== null && max > 0 ? max * 1.15 : 1];
}

/** Short tick labels: three significant digits at most, then the unit. */
export function axisLabel(v: number, unit: TimeChartProps['unit']): string {
  if (unit === '%') return `${Number((v * 100).toPrecision(3))}%`;
  const n = Math.abs(v) >= 1000 ? `${Number((v / 1000).toPrecision(3))}k` : String(Number(v.toPrecision(3)));
  return unit === 'ms' ? `${n} ms` : n;
}

export function TimeChart({ title, t, series, format, unit = '', height = 150, windowSecs = 900, yRange, testId }: TimeChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // uPlot calls the x range back on every setData: it must see the newest times.
  const times = useRef(t);
  times.current = t;
  // Recreated when the set of series changes; otherwise only its data is replaced.
  const shape = `${series.map((s) => `${s.label}|${s.color}`).join(',')}|${windowSecs}|${yRange?.join(':') ?? ''}`;
  const data = [Array.from(t), ...series.map((s) => Array.from(s.values))] as uPlot.AlignedData;

  const xRange = (): [number, number] => {
    const t = times.current;
    const now = Math.max(Date.now() / 1000, t.length ? t[t.length - 1]! : 0);
    if (windowSecs !== null) return [now - windowSecs, now];
    if (t.length === 0) return [now - 3600, now];
    const first = t[0]!;
    const last = t[t.length - 1]!;
    const pad = Math.max(30, (last - first) * 0.05);
    return [first - pad, last + pad];
  };

  useEffect(() => {
    const el = host.current;
    if (!el) return undefined;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth || 400),
      height,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: () => xRange() }, y: { range: yScale(yRange) } },
      axes: [
        { stroke: '#6b7280', grid: { stroke: '#e5e7eb', width: 1 }, ticks: { stroke: '#e5e7eb' } },
        {
          stroke: '#6b7280',
          grid: { stroke: '#e5e7eb', width: 1 },
          ticks: { stroke: '#e5e7eb' },
          size: 64,
          values: (_u, vals) => vals.map((v) => (v === null ? '' : axisLabel(v, unit))),
        },
      ],
      series: [
        {},
        ...series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          dash: s.dash,
          spanGaps: false,
          points: { show: s.points ?? false, size: 5, fill: s.color },
          value: (_u, v) => (v === null || v === undefined ? '—' : format ? format(v) : String(v)),
        })),
      ],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const resize = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (width !== u.width) u.setSize({ width, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // the chart is rebuilt when its shape changes; data changes go through setData below
  }, [shape, height, unit]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure class="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div ref={host} class="chart-canvas" />
    </figure>
  );
}
