// Timeline: a Gantt of runs per worker (lanes from logic/timeline.ts), live from the job's events.
import { useMemo, useState } from 'react';
import type { Run } from '../api/types';
import { formatDuration } from '../logic/format';
import { isFinalRun, STATE_COLORS } from '../logic/state';
import { layoutTimeline } from '../logic/timeline';
import { useNow } from './common';

const LANE_H = 16;
const LABEL_W = 120;

export function TimelineView({ runs, truncated, onSelect, selectedRunId }: { runs: Run[]; truncated: boolean;
  onSelect: (id: string) => void; selectedRunId: string }) {
  const anyOpen = runs.some((r) => !isFinalRun(r.state) && Number(r.startedUnixMicros) > 0);
  const now = useNow(anyOpen, 500);
  const layout = useMemo(() => layoutTimeline(runs, now), [runs, now]);
  const [width, setWidth] = useState(900);
  const span = Math.max(1, layout.end - layout.start);
  const scale = (t: number) => LABEL_W + ((t - layout.start) / span) * (width - LABEL_W - 10);
  let y = 24;
  const rows = layout.rows.map((row) => {
    const top = y;
    y += row.lanes * LANE_H + 8;
    return { row, top };
  });
  const ticks = Array.from({ length: 6 }, (_, i) => layout.start + (span * i) / 5);
  return (
    <div className="timeline" data-testid="timeline" ref={(el) => { const w = el ? el.clientWidth - 24 : width; if (el && Math.abs(w - width) > 4) setWidth(Math.max(400, w)); }}>
      {truncated && <div className="muted small-text">Showing the first {runs.length} runs.</div>}
      {layout.rows.length === 0 && <div className="muted pad">No run has started yet.</div>}
      <svg width={width} height={y + 4} data-testid="timeline-svg" data-rows={layout.rows.length}>
        {ticks.map((t, i) => (
          <g key={i}>
            <line x1={scale(t)} x2={scale(t)} y1={16} y2={y} className="grid-line" />
            <text x={scale(t)} y={12} className="axis-text" textAnchor={i === 5 ? 'end' : 'middle'}>+{formatDuration(t - layout.start)}</text>
          </g>
        ))}
        {rows.map(({ row, top }) => (
          <g key={row.worker} data-testid="timeline-row" data-worker={row.worker} data-bars={row.bars.length}>
            <text x={4} y={top + 12} className="axis-text mono">{row.worker}</text>
            <line x1={0} x2={width} y1={top + row.lanes * LANE_H + 4} y2={top + row.lanes * LANE_H + 4} className="grid-line" />
            {row.bars.map((b) => (
              <rect key={b.run.id} x={scale(b.start)} y={top + b.lane * LANE_H} height={LANE_H - 3}
                width={Math.max(1.5, scale(b.end) - scale(b.start))} fill={STATE_COLORS[b.run.state]}
                stroke={b.run.id === selectedRunId ? '#111' : 'none'} data-testid="timeline-bar" data-run-id={b.run.id}
                onClick={() => onSelect(b.run.id)} style={{ cursor: 'pointer' }}>
                <title>{`${b.run.function} ${b.run.id}\n${b.run.state} ${formatDuration(b.end - b.start)}`}</title>
              </rect>
            ))}
          </g>
        ))}
      </svg>
    </div>
  );
}
