// A Vega-Lite plot, rendered by vega-embed (loaded on first use: it is the biggest library).
import { useEffect, useRef, useState } from 'react';
import { errorMessage } from '../../api/client';
import { ErrorBanner } from '../common';

export function PlotView({ spec }: { spec: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [error, setError] = useState('');
  const [marks, setMarks] = useState(-1);
  useEffect(() => {
    let finalize: (() => void) | undefined;
    let live = true;
    (async () => {
      try {
        const parsed = JSON.parse(spec);
        const { default: embed } = await import('vega-embed');
        if (!live || !ref.current) return;
        const result = await embed(ref.current, parsed, { renderer: 'svg', actions: { export: true, source: true, compiled: false, editor: false } });
        finalize = () => result.finalize();
        (ref.current as HTMLDivElement & { vegaView?: unknown }).vegaView = result.view;
        const scene = (result.view.scenegraph() as unknown as { root: unknown }).root;
        setMarks(countMarks(scene));
      } catch (e) {
        if (live) setError(`plot: ${errorMessage(e)}`);
      }
    })();
    return () => { live = false; finalize?.(); };
  }, [spec]);
  return (
    <div className="plot-view" data-testid="plot-view" data-marks={marks}>
      <ErrorBanner message={error} />
      <div ref={ref} data-testid="plot-container" />
    </div>
  );
}

// Items of the scenegraph's data marks (bars, points, ...), not axes or legends.
function countMarks(node: unknown): number {
  let n = 0;
  const walk = (x: unknown) => {
    if (!x || typeof x !== 'object') return;
    const o = x as { marktype?: string; role?: string; items?: unknown[] };
    if (o.marktype && o.role === 'mark') { n += o.items?.length ?? 0; return; }
    for (const it of o.items ?? []) walk(it);
  };
  walk(node);
  return n;
}
