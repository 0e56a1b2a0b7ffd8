// The DAG: laid out by dagre (logic/dag.ts) only when the graph's structure changes; states
// recolour in place. Pan (drag) and zoom (wheel) live here and survive every update: the view
// is fitted to the graph as it grows only until the user first pans or zooms; from then on only
// the Fit button moves it.
import { useEffect, useMemo, useRef, useState } from 'react';
import { groupKey, layoutGraph, structureKey, type DagGraph, type DagLayout, type PlacedNode } from '../logic/dag';
import { histogramEntries, STATE_COLORS } from '../logic/state';

interface Props {
  graph: DagGraph;
  selectedRunId: string;
  onSelectRun: (runId: string) => void;
  onExpandGroup: (key: string) => void;
  onToggleCluster: (runId: string) => void;
}

interface View { x: number; y: number; k: number }

export function DagView({ graph, selectedRunId, onSelectRun, onExpandGroup, onToggleCluster }: Props) {
  const key = structureKey(graph);
  const layoutRef = useRef<{ key: string; layout: DagLayout } | null>(null);
  if (!layoutRef.current || layoutRef.current.key !== key) {
    layoutRef.current = { key, layout: layoutGraph(graph) };
  }
  const layout = layoutRef.current.layout;
  // Current node data (states, counts) by id, over the cached positions.
  const current = useMemo(() => new Map(graph.nodes.map((n) => [n.id, n])), [graph]);
  const svgRef = useRef<SVGSVGElement>(null);
  const [view, setView] = useState<View | null>(null);
  const drag = useRef<{ x: number; y: number; vx: number; vy: number; moved: boolean } | null>(null);
  const touched = useRef(false);

  const fit = () => {
    const el = svgRef.current;
    if (!el) return;
    const r = el.getBoundingClientRect();
    const pad = 24;
    const k = Math.min(1, Math.max(0.05, Math.min((r.width - 2 * pad) / Math.max(1, layout.width),
      (r.height - 2 * pad) / Math.max(1, layout.height))));
    setView({ k, x: (r.width - layout.width * k) / 2, y: pad });
  };
  useEffect(() => {
    if (!touched.current && layout.nodes.length) fit();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  useEffect(() => {
    const el = svgRef.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      touched.current = true;
      const r = el.getBoundingClientRect();
      const px = e.clientX - r.left, py = e.clientY - r.top;
      setView((v) => {
        const cur = v ?? { x: 0, y: 0, k: 1 };
        const k = Math.min(4, Math.max(0.02, cur.k * Math.exp(-e.deltaY * 0.0015)));
        return { k, x: px - ((px - cur.x) * k) / cur.k, y: py - ((py - cur.y) * k) / cur.k };
      });
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  }, []);

  const v = view ?? { x: 0, y: 0, k: 1 };
  const zoom = (f: number) => {
    touched.current = true;
    const el = svgRef.current;
    const r = el?.getBoundingClientRect();
    const cx = (r?.width ?? 0) / 2, cy = (r?.height ?? 0) / 2;
    setView({ k: v.k * f, x: cx - (cx - v.x) * f, y: cy - (cy - v.y) * f });
  };

  return (
    <div className="dag" data-testid="dag" data-nodes={layout.nodes.length}>
      <div className="dag-tools">
        <button className="small" onClick={() => zoom(1.25)} title="zoom in">+</button>
        <button className="small" onClick={() => zoom(0.8)} title="zoom out">−</button>
        <button className="small" data-testid="dag-fit" onClick={fit}>Fit</button>
        <span className="muted small-text" data-testid="dag-zoom">{Math.round(v.k * 100)}%</span>
      </div>
      <svg ref={svgRef} className="dag-svg" data-testid="dag-svg" data-view={`${v.x.toFixed(1)},${v.y.toFixed(1)},${v.k.toFixed(4)}`}
        onMouseDown={(e) => { drag.current = { x: e.clientX, y: e.clientY, vx: v.x, vy: v.y, moved: false }; }}
        onMouseMove={(e) => {
          const d = drag.current;
          if (!d) return;
          const dx = e.clientX - d.x, dy = e.clientY - d.y;
          if (Math.abs(dx) + Math.abs(dy) > 3) d.moved = true;
          if (d.moved) {
            touched.current = true;
            setView({ k: v.k, x: d.vx + dx, y: d.vy + dy });
          }
        }}
        onMouseUp={() => { setTimeout(() => { drag.current = null; }, 0); }}
        onMouseLeave={() => { drag.current = null; }}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#9aa3b2" />
          </marker>
        </defs>
        <g transform={`translate(${v.x},${v.y}) scale(${v.k})`}>
          {layout.nodes.filter((p) => p.node.kind === 'cluster').map((p) => (
            <ClusterBox key={p.node.id} p={p} state={current.get(p.node.id)?.state ?? p.node.state}
              selected={p.node.runId === selectedRunId}
              onSelect={() => { if (!drag.current?.moved && p.node.runId) onSelectRun(p.node.runId); }}
              onToggle={() => p.node.runId && onToggleCluster(p.node.runId)} />
          ))}
          {layout.edges.map((e, i) => (
            <path key={i} className="dag-edge" markerEnd="url(#arrow)"
              d={e.points.map((pt, j) => `${j ? 'L' : 'M'}${pt.x},${pt.y}`).join(' ')} />
          ))}
          {layout.nodes.filter((p) => p.node.kind !== 'cluster').map((p) => {
            const n = current.get(p.node.id) ?? p.node;
            const click = () => {
              if (drag.current?.moved) return;
              if (n.kind === 'group' && n.group) onExpandGroup(groupKey(n.group.parentId, n.group.function));
              else if (n.runId) onSelectRun(n.runId);
            };
            return n.kind === 'group'
              ? <GroupNode key={n.id} p={p} n={n} onClick={click} />
              : <RunNode key={n.id} p={p} n={n} selected={n.runId === selectedRunId} onClick={click}
                onToggle={n.nested && n.runId ? () => onToggleCluster(n.runId!) : undefined} />;
          })}
        </g>
      </svg>
    </div>
  );
}

function RunNode({ p, n, selected, onClick, onToggle }: { p: PlacedNode; n: PlacedNode['node']; selected: boolean;
  onClick: () => void; onToggle?: () => void }) {
  return (
    <g transform={`translate(${p.x},${p.y})`} className={`dag-node ${selected ? 'selected' : ''}`}
      data-testid="dag-node" data-kind="run" data-run-id={n.runId} data-function={n.label} data-state={n.state}
      onClick={onClick} style={{ cursor: 'pointer' }}>
      <title>{`${n.label} ${n.runId} ${n.state}`}</title>
      <rect width={p.w} height={p.h} rx={6} className="dag-box" />
      <rect width={6} height={p.h} rx={3} fill={STATE_COLORS[n.state]} />
      <text x={14} y={17} className="dag-label">{truncate(n.label, 20)}</text>
      <text x={14} y={32} className="dag-sub" fill={STATE_COLORS[n.state]}>{n.state}</text>
      {onToggle && <text x={p.w - 18} y={17} className="dag-toggle" data-testid="dag-node-expand"
        onClick={(e) => { e.stopPropagation(); onToggle(); }}><title>expand</title>⊕</text>}
    </g>
  );
}

function GroupNode({ p, n, onClick }: { p: PlacedNode; n: PlacedNode['node']; onClick: () => void }) {
  const g = n.group!;
  const entries = histogramEntries(g.histogram);
  const total = entries.reduce((a, [, c]) => a + c, 0) || 1;
  let x = 10;
  const barW = p.w - 20;
  return (
    <g transform={`translate(${p.x},${p.y})`} className="dag-node dag-group"
      data-testid={g.pending ? 'dag-pending-group' : 'dag-group-node'}
      data-kind="group" data-function={g.function} data-count={g.count} data-state={n.state}
      data-histogram={g.histogram.join(',')} onClick={onClick} style={{ cursor: 'pointer' }}>
      <title>{`${g.function} ×${g.count} (click to list its runs)\n${entries.map(([s, c]) => `${s}: ${c}`).join('\n')}`}</title>
      <rect width={p.w} height={p.h} rx={8} className="dag-box group" />
      <rect x={4} y={4} width={p.w} height={p.h} rx={8} className="dag-stack" />
      <rect width={p.w} height={p.h} rx={8} className="dag-box group" />
      <text x={10} y={18} className="dag-label">{truncate(g.function, 18)}</text>
      <text x={p.w - 10} y={18} className="dag-count" textAnchor="end" data-testid="dag-group-count">×{g.count.toLocaleString('en-US')}</text>
      <g transform="translate(0,28)">
        {entries.map(([s, c]) => {
          const w = (barW * c) / total;
          const el = <rect key={s} x={x} y={0} width={Math.max(0.5, w)} height={10} fill={STATE_COLORS[s]} />;
          x += w;
          return el;
        })}
      </g>
      <text x={10} y={54} className="dag-sub">{entries.map(([s, c]) => `${abbrev(s)} ${c}`).join(' · ')}</text>
    </g>
  );
}

function ClusterBox({ p, state, selected, onSelect, onToggle }: { p: PlacedNode; state: string; selected: boolean;
  onSelect: () => void; onToggle: () => void }) {
  return (
    <g transform={`translate(${p.x},${p.y})`} data-testid="dag-cluster" data-run-id={p.node.runId} data-state={state}>
      <rect width={p.w} height={p.h} rx={8} className={`dag-cluster ${selected ? 'selected' : ''}`} />
      <rect width={p.w} height={22} rx={8} fill={STATE_COLORS[state]} opacity={0.18} />
      <text x={8} y={16} className="dag-toggle" onClick={onToggle} data-testid="dag-cluster-toggle">
        <title>collapse</title>⊖</text>
      <text x={24} y={15} className="dag-label" onClick={onSelect} style={{ cursor: 'pointer' }}>{p.node.label}</text>
      <text x={p.w - 10} y={15} className="dag-sub" textAnchor="end" fill={STATE_COLORS[state]}>{state}</text>
    </g>
  );
}

function truncate(s: string, n: number): string { return s.length > n ? `${s.slice(0, n - 1)}…` : s; }
function abbrev(s: string): string {
  const m: Record<string, string> = { SUCCEEDED: 'ok', FAILED: 'fail', RUNNING: 'run', QUEUED: 'queue',
    CREATED: 'new', ASSIGNED: 'asgn', WAITING: 'wait', CANCELED: 'cxl', TIMED_OUT: 'tmo' };
  return m[s] ?? s;
}
