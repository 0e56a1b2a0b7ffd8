// Gantt layout of runs per worker: one row per worker, runs that overlap on a worker stacked
// into lanes (first lane free at the run's start). Pure.
import type { Run } from '../api/types';
import { micros } from './format';

export interface TimelineBar { run: Run; lane: number; start: number; end: number; open: boolean }
export interface TimelineRow { worker: string; lanes: number; bars: TimelineBar[] }
export interface TimelineLayout { rows: TimelineRow[]; start: number; end: number }

// Runs that never started (or builtin runs, which run nowhere) are left out. A run still
// running ends at `nowUs` and is `open`.
export function layoutTimeline(runs: readonly Run[], nowUs: number): TimelineLayout {
  const byWorker = new Map<string, TimelineBar[]>();
  let start = Infinity, end = -Infinity;
  for (const run of runs) {
    const s = micros(run.startedUnixMicros);
    if (!s || run.builtin) continue;
    const e0 = micros(run.endedUnixMicros);
    const e = Math.max(s, e0 || nowUs);
    const worker = run.workerId || '(unknown worker)';
    let list = byWorker.get(worker);
    if (!list) byWorker.set(worker, (list = []));
    list.push({ run, lane: 0, start: s, end: e, open: !e0 });
    start = Math.min(start, s);
    end = Math.max(end, e);
  }
  const rows: TimelineRow[] = [];
  for (const [worker, bars] of [...byWorker.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    bars.sort((a, b) => a.start - b.start || a.end - b.end || (a.run.id < b.run.id ? -1 : 1));
    const laneEnds: number[] = [];
    for (const bar of bars) {
      let lane = laneEnds.findIndex((le) => le <= bar.start);
      if (lane < 0) { lane = laneEnds.length; laneEnds.push(0); }
      laneEnds[lane] = bar.end;
      bar.lane = lane;
    }
    rows.push({ worker, lanes: Math.max(1, laneEnds.length), bars });
  }
  if (!rows.length) return { rows, start: 0, end: 0 };
  return { rows, start, end };
}
