// Job figures: runs and failures by function (from the groups) and durations (from the runs).
import type { Run, RunGroup } from '../api/types';
import { formatDuration, micros } from '../logic/format';
import { histogram, runStateIndex } from '../logic/state';
import { StateBar } from './common';

export function FiguresView({ groups, runs }: { groups: RunGroup[]; runs: Run[] }) {
  const byFn = new Map<string, { count: number; h: number[]; durations: number[] }>();
  for (const g of groups) {
    if (g.builtin) continue;
    let e = byFn.get(g.function);
    if (!e) byFn.set(g.function, (e = { count: 0, h: new Array(10).fill(0), durations: [] }));
    e.count += Number(g.count);
    histogram(g.runsByState).forEach((n, i) => { e!.h[i] += n; });
  }
  for (const r of runs) {
    const s = micros(r.startedUnixMicros), t = micros(r.endedUnixMicros);
    if (s && t && byFn.has(r.function)) byFn.get(r.function)!.durations.push(t - s);
  }
  const total = [...byFn.values()].reduce((a, e) => a + e.count, 0);
  const failed = [...byFn.values()].reduce((a, e) => a + e.h[runStateIndex('FAILED')] + e.h[runStateIndex('TIMED_OUT')], 0);
  return (
    <div className="figures pad" data-testid="figures">
      <div className="figure-cards">
        <div className="card"><div className="big" data-testid="fig-runs">{total}</div><div className="muted">runs</div></div>
        <div className="card"><div className="big" data-testid="fig-failures">{failed}</div><div className="muted">failed</div></div>
        <div className="card"><div className="big">{byFn.size}</div><div className="muted">functions</div></div>
      </div>
      <table className="grid">
        <thead><tr><th>Function</th><th>Runs</th><th>States</th><th>Failed</th><th>Mean</th><th>p50</th><th>Max</th></tr></thead>
        <tbody>
          {[...byFn.entries()].map(([fn, e]) => {
            const d = [...e.durations].sort((a, b) => a - b);
            const mean = d.length ? d.reduce((a, b) => a + b, 0) / d.length : NaN;
            return (
              <tr key={fn} data-testid="fig-row" data-function={fn}>
                <td>{fn}</td><td>{e.count}</td><td style={{ minWidth: 120 }}><StateBar counts={e.h} /></td>
                <td>{e.h[runStateIndex('FAILED')] + e.h[runStateIndex('TIMED_OUT')]}</td>
                <td>{d.length ? formatDuration(mean) : ''}</td>
                <td>{d.length ? formatDuration(d[Math.floor(d.length / 2)]) : ''}</td>
                <td>{d.length ? formatDuration(d[d.length - 1]) : ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
