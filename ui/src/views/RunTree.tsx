// The run tree: nested runs collapsible; a big group is one row that lists its runs on demand.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useRef } from 'react';
import type { Run, RunGroup } from '../api/types';
import type { JobLive } from '../live/jobLive';
import { AGGREGATE_THRESHOLD, groupKey } from '../logic/dag';
import { histogram } from '../logic/state';
import { StateBar, StateChip } from './common';

interface Props {
  live: JobLive;
  selectedRunId: string;
  collapsed: ReadonlySet<string>;
  onSelect: (runId: string) => void;
  onToggle: (runId: string) => void;
}

export function RunTree(props: Props) {
  const groups = props.live.groups();
  const byParent = new Map<string, RunGroup[]>();
  for (const g of groups) {
    if (g.builtin) continue;
    let l = byParent.get(g.parentId);
    if (!l) byParent.set(g.parentId, (l = []));
    l.push(g);
  }
  return (
    <div className="run-tree" data-testid="run-tree">
      <Level {...props} parentId="" depth={0} byParent={byParent} />
    </div>
  );
}

function Level(props: Props & { parentId: string; depth: number; byParent: Map<string, RunGroup[]> }) {
  const { live, parentId, depth, byParent } = props;
  return (
    <>
      {(byParent.get(parentId) ?? []).map((g) => {
        const key = groupKey(g.parentId, g.function);
        const count = Number(g.count);
        const big = count > AGGREGATE_THRESHOLD;
        const open = live.expanded.has(key);
        if (big) {
          return (
            <div key={key}>
              <div className="tree-row" style={{ paddingLeft: 8 + depth * 14 }} data-testid="tree-group"
                data-function={g.function} data-count={count}
                onClick={() => (open ? live.collapseGroup(key) : live.expandGroup(key))}>
                <span className="twisty">{open ? '▾' : '▸'}</span>
                <span className="tree-fn">{g.function}</span>
                <span className="muted">×{count.toLocaleString('en-US')}</span>
                <StateBar counts={histogram(g.runsByState)} height={6} />
              </div>
              {open && <GroupRuns {...props} runs={live.groupRuns(key)} depth={depth + 1} />}
              {open && live.truncatedGroups.has(key) && (
                <button className="link tree-more" style={{ marginLeft: 22 + depth * 14 }}
                  onClick={() => void live.loadMore(key)}>load more ({live.groupRuns(key).length} of {count})</button>
              )}
            </div>
          );
        }
        return <Runs key={key} {...props} runs={live.groupRuns(key)} depth={depth} />;
      })}
    </>
  );
}

function Runs(props: Props & { runs: Run[]; depth: number; byParent: Map<string, RunGroup[]> }) {
  const { runs, depth, byParent, selectedRunId, collapsed, onSelect, onToggle } = props;
  return (
    <>
      {runs.map((r) => {
        const hasChildren = byParent.has(r.id);
        const isOpen = hasChildren && !collapsed.has(r.id);
        return (
          <div key={r.id}>
            <div className={`tree-row ${r.id === selectedRunId ? 'selected' : ''}`} style={{ paddingLeft: 8 + depth * 14 }}
              data-testid="tree-run" data-run-id={r.id} data-state={r.state} onClick={() => onSelect(r.id)}>
              <span className="twisty" onClick={(e) => { if (hasChildren) { e.stopPropagation(); onToggle(r.id); } }}>
                {hasChildren ? (isOpen ? '▾' : '▸') : ''}</span>
              <span className="tree-fn" title={r.label || r.id}>{r.function}</span>
              <StateChip state={r.state} />
            </div>
            {isOpen && <Level {...props} parentId={r.id} depth={depth + 1} />}
          </div>
        );
      })}
    </>
  );
}

const ROW_H = 21;

// An opened big group's runs: a scrolling, virtualised list (a fan-out can hold 100,000).
function GroupRuns(props: Props & { runs: Run[]; depth: number }) {
  const { runs, depth, selectedRunId, onSelect } = props;
  const ref = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({ count: runs.length, getScrollElement: () => ref.current, estimateSize: () => ROW_H, overscan: 12 });
  return (
    <div ref={ref} className="tree-group-runs" data-testid="tree-group-runs" data-runs={runs.length}
      style={{ maxHeight: Math.min(runs.length * ROW_H, 420) + 2 }}>
      <div style={{ height: v.getTotalSize(), position: 'relative' }}>
        {v.getVirtualItems().map((item) => {
          const r = runs[item.index];
          return (
            <div key={r.id} className={`tree-row ${r.id === selectedRunId ? 'selected' : ''}`}
              style={{ paddingLeft: 8 + depth * 14, position: 'absolute', top: 0, left: 0, right: 0, height: ROW_H,
                transform: `translateY(${item.start}px)` }}
              data-testid="tree-run" data-run-id={r.id} data-state={r.state} onClick={() => onSelect(r.id)}>
              <span className="twisty" />
              <span className="tree-fn" title={r.label || r.id}>{r.function} <span className="muted mono">{r.id.slice(-6)}</span></span>
              <StateChip state={r.state} />
            </div>
          );
        })}
      </div>
    </div>
  );
}
