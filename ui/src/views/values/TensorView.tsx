// A tensor: dtype, shape, min/max/mean, a histogram, and a heatmap when it is 2-D. A payload
// stored apart (dataRef) is fetched from /api/v1/artifacts/:ref/bytes.
import { useEffect, useMemo, useRef, useState } from 'react';
import { api, errorMessage } from '../../api/client';
import type { TensorValue } from '../../api/types';
import { formatNumber } from '../../logic/format';
import { decodeTensor, histogramOf, stats, type DecodedTensor } from '../../logic/values';
import { ErrorBanner } from '../common';

export function TensorView({ tensor }: { tensor: TensorValue }) {
  const [decoded, setDecoded] = useState<DecodedTensor | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const bytes = tensor.dataRef ? await api.artifactBytes(tensor.dataRef.digest) : undefined;
        if (live) setDecoded(decodeTensor(tensor, bytes));
      } catch (e) {
        if (live) setError(errorMessage(e));
      }
    })();
    return () => { live = false; };
  }, [tensor]);
  const s = useMemo(() => (decoded ? stats(decoded.values) : null), [decoded]);
  const h = useMemo(() => (decoded ? histogramOf(decoded.values, 24) : null), [decoded]);
  return (
    <div className="tensor-view" data-testid="tensor-view">
      <div className="kv">
        <span>dtype</span><b data-testid="tensor-dtype">{tensor.dtype.replace('DTYPE_', '').toLowerCase()}</b>
        <span>shape</span><b data-testid="tensor-shape">[{(tensor.shape ?? []).join(', ')}]</b>
        {s && <><span>min</span><b data-testid="tensor-min">{formatNumber(s.min)}</b>
          <span>max</span><b data-testid="tensor-max">{formatNumber(s.max)}</b>
          <span>mean</span><b data-testid="tensor-mean">{formatNumber(s.mean)}</b>
          {s.nan > 0 && <><span>NaN</span><b>{s.nan}</b></>}</>}
      </div>
      <ErrorBanner message={error} />
      {h && h.counts.length > 0 && <HistogramChart edges={h.edges} counts={h.counts} />}
      {decoded && decoded.shape.length === 2 && s && <Heatmap t={decoded} min={s.min} max={s.max} />}
    </div>
  );
}

function HistogramChart({ edges, counts }: { edges: number[]; counts: number[] }) {
  const W = 320, H = 80;
  const max = Math.max(...counts, 1);
  const bw = W / counts.length;
  return (
    <svg width={W} height={H + 16} data-testid="tensor-histogram" data-bins={counts.length}>
      {counts.map((c, i) => (
        <rect key={i} x={i * bw + 0.5} y={H - (H * c) / max} width={Math.max(1, bw - 1)} height={(H * c) / max} fill="#2f7de1">
          <title>{`[${formatNumber(edges[i])}, ${formatNumber(edges[i + 1] ?? edges[i])}]: ${c}`}</title>
        </rect>
      ))}
      <text x={0} y={H + 12} className="axis-text">{formatNumber(edges[0])}</text>
      <text x={W} y={H + 12} className="axis-text" textAnchor="end">{formatNumber(edges[edges.length - 1])}</text>
    </svg>
  );
}

// Viridis-like ramp from dark blue to yellow.
function color(t: number): [number, number, number] {
  const stops: [number, number, number][] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(0.9999, Math.max(0, t)) * (stops.length - 1);
  const i = Math.floor(x), f = x - i;
  const a = stops[i], b = stops[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

function Heatmap({ t, min, max }: { t: DecodedTensor; min: number; max: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const [rows, cols] = t.shape;
  useEffect(() => {
    const c = ref.current;
    if (!c || !rows || !cols) return;
    c.width = cols;
    c.height = rows;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    const img = ctx.createImageData(cols, rows);
    const span = max - min || 1;
    for (let i = 0; i < rows * cols; i++) {
      const [r, g, b] = color((t.values[i] - min) / span);
      img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }, [t, rows, cols, min, max]);
  const scale = Math.max(1, Math.floor(256 / Math.max(rows, cols)));
  return (
    <div className="heatmap">
      <canvas ref={ref} data-testid="tensor-heatmap" style={{ width: cols * scale, height: rows * scale, imageRendering: 'pixelated' }} />
      <div className="muted small-text">{rows}×{cols} heatmap, {formatNumber(min)} (dark) to {formatNumber(max)} (yellow)</div>
    </div>
  );
}
