// A line chart of one metric: one series per run (uPlot). Series are matched by label, so a
// live update keeps the chart (and its zoom) and only swaps the data.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const PALETTE = ['#2f7de1', '#e0712c', '#2e9e5b', '#d93b3b', '#7a66d4', '#c9a227', '#17a2b8', '#e83e8c', '#6c757d', '#20c997'];

export function LineChart({ title, data, labels, highlight }: { title: string; data: (number | null)[][];
  labels: string[]; highlight?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = `${labels.join('\u0001')}#${highlight ?? -1}`;
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const opts: uPlot.Options = {
      title, width: Math.max(280, el.clientWidth || 420), height: 200,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, {}],
      series: [{ label: 'step' }, ...labels.map((l, i) => ({
        label: l, stroke: PALETTE[i % PALETTE.length], width: highlight === i ? 3 : 1.5, spanGaps: true,
        points: { size: 4 },
      }))],
      legend: { show: true },
    };
    plot.current?.destroy();
    plot.current = new uPlot(opts, data as uPlot.AlignedData, el);
    return () => { plot.current?.destroy(); plot.current = null; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, title]);
  useEffect(() => { plot.current?.setData(data as uPlot.AlignedData); }, [data]);
  return <div className="line-chart" ref={ref} data-testid="metric-chart" data-metric={title} data-series={labels.length}
    data-points={data.slice(1).map((s) => s.filter((v) => v !== null).length).join(',')} />;
}
