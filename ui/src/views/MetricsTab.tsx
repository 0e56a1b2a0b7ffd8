// Metrics of a run, one chart per series name; for a sweep (a nested run with many children of
// one function), every child's curve on one chart per metric and a sortable table of the
// children's literal inputs against their final metric values, best row highlighted.
// Re-read on the job's events for the run (or a child), not on a timer.
import { useEffect, useMemo, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { MetricPoint, Run, TypeDesc } from '../api/types';
import type { JobLive } from '../live/jobLive';
import { formatNumber } from '../logic/format';
import { alignSeries, bestRow, inputNames, metricNames, sortRows, sweepCandidates, sweepRow,
  type SortKey, type SweepRow } from '../logic/sweep';
import { jobUrl } from '../router';
import { ErrorBanner, Link, StateChip } from './common';
import { LineChart } from './LineChart';

const MAX_SWEEP_CHILDREN = 200;

// Re-reads `load(id)` for the ids the job's events mention, at most every 300 ms per id.
function useEventRefresh(live: JobLive, ids: ReadonlySet<string>, load: (id: string) => void): void {
  useEffect(() => {
    const timers = new Map<string, ReturnType<typeof setTimeout>>();
    const off = live.onRuns((batch) => {
      for (const r of batch) {
        if (!ids.has(r.id) || timers.has(r.id)) continue;
        timers.set(r.id, setTimeout(() => { timers.delete(r.id); load(r.id); }, 300));
      }
    });
    return () => { off(); for (const t of timers.values()) clearTimeout(t); };
  }, [live, ids, load]);
}

export function MetricsTab({ live, run }: { live: JobLive; run: Run }) {
  const candidates = sweepCandidates(live.groups(), run.id);
  const [chosen, setChosen] = useState('');
  const fn = candidates.includes(chosen) ? chosen : (candidates[0] ?? '');
  return (
    <div className="metrics" data-testid="metrics">
      {candidates.length > 1 && (
        <div className="pad">
          compare the runs of{' '}
          <select data-testid="sweep-function" value={fn} onChange={(e) => setChosen(e.target.value)}>
            {candidates.map((c) => <option key={c} value={c}>{c}</option>)}
          </select>
        </div>
      )}
      {fn && <SweepView key={fn} live={live} run={run} fn={fn} />}
      <OwnMetrics live={live} runId={run.id} hideEmpty={!!fn} />
    </div>
  );
}

function OwnMetrics({ live, runId, hideEmpty }: { live: JobLive; runId: string; hideEmpty: boolean }) {
  const [points, setPoints] = useState<MetricPoint[] | null>(null);
  const [error, setError] = useState('');
  const load = useMemo(() => () => {
    api.metrics(runId).then((r) => setPoints(r.points)).catch((e) => setError(errorMessage(e)));
  }, [runId]);
  useEffect(() => { load(); }, [load]);
  const ids = useMemo(() => new Set([runId]), [runId]);
  useEventRefresh(live, ids, load);
  if (error) return <ErrorBanner message={error} />;
  if (!points) return <div className="muted pad">Loading metrics…</div>;
  const names = [...new Set(points.map((p) => p.name))].sort();
  if (!names.length) return hideEmpty ? null : <div className="muted pad">This run logged no metrics.</div>;
  return (
    <div data-testid="own-metrics">
      <div className="section-title">This run</div>
      <div className="charts">
        {names.map((n) => <LineChart key={n} title={n} data={alignSeries([points], n)} labels={[runId.slice(-10)]} />)}
      </div>
    </div>
  );
}

interface Child { run: Run; points: MetricPoint[] }

function SweepView({ live, run, fn }: { live: JobLive; run: Run; fn: string }) {
  const [children, setChildren] = useState<Map<string, Child>>(new Map());
  const [error, setError] = useState('');
  const [metric, setMetric] = useState('');
  const [mode, setMode] = useState<'max' | 'min'>('max');
  const [sort, setSort] = useState<SortKey | null>(null);

  const loadChild = useMemo(() => (id: string) => {
    Promise.all([api.getRun(id), api.metrics(id)]).then(([r, m]) => {
      setChildren((cur) => new Map(cur).set(id, { run: r, points: m.points }));
    }).catch((e) => setError(errorMessage(e)));
  }, []);

  const [ids, setIds] = useState<ReadonlySet<string>>(new Set());
  useEffect(() => {
    let alive = true;
    (async () => {
      try {
        const list: Run[] = [];
        let token = '';
        do {
          const r = await api.listRuns(run.jobId, { parent_id: run.id, function: fn, page_size: 100, page_token: token || undefined });
          list.push(...r.runs);
          token = r.nextPageToken;
        } while (token && list.length < MAX_SWEEP_CHILDREN);
        if (!alive) return;
        setIds(new Set(list.map((r) => r.id)));
        // A few at a time: a sweep can have hundreds of children.
        let next = 0;
        const worker = async () => {
          while (alive && next < list.length) {
            const id = list[next++].id;
            try {
              const [r, m] = await Promise.all([api.getRun(id), api.metrics(id)]);
              if (alive) setChildren((cur) => new Map(cur).set(id, { run: r, points: m.points }));
            } catch (e) {
              if (alive) setError(errorMessage(e));
            }
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
      } catch (e) {
        if (alive) setError(errorMessage(e));
      }
    })();
    return () => { alive = false; };
  }, [run.id, run.jobId, fn]);
  useEventRefresh(live, ids, loadChild);

  // The parameters' types, when a live worker offers the function: struct inputs' columns are
  // then named by field.
  const [paramTypes, setParamTypes] = useState<Record<string, TypeDesc | undefined>>({});
  useEffect(() => {
    let alive = true;
    api.functions().then((r) => {
      const sig = r.functions.find((f) => f.name === fn);
      if (alive && sig) setParamTypes(Object.fromEntries(sig.params.map((p) => [p.name, p.type])));
    }).catch(() => { /* no signature: columns by position */ });
    return () => { alive = false; };
  }, [fn]);
  const list = [...children.values()].sort((a, b) => (a.run.id < b.run.id ? -1 : 1));
  const rows = list.map((c) => sweepRow(c.run, c.points, paramTypes));
  const metrics = metricNames(rows);
  const chosen = metric && metrics.includes(metric) ? metric : metrics[0] ?? '';
  const best = bestRow(rows, chosen, mode);
  const bestId = best >= 0 ? rows[best].runId : '';
  const sorted = sortRows(rows, sort);
  const inputs = inputNames(rows);
  const states = new Map(list.map((c) => [c.run.id, c.run.state]));
  const labels = curveLabels(rows);
  const header = (column: string, kind: 'input' | 'metric', text: string) => (
    <th className="sortable" data-testid="sweep-sort" data-column={column}
      onClick={() => setSort((s) => ({ column, kind, desc: s?.column === column ? !s.desc : kind === 'metric' }))}>
      {text}{sort?.column === column ? (sort.desc ? ' ▾' : ' ▴') : ''}
    </th>
  );
  return (
    <div className="sweep" data-testid="sweep" data-children={ids.size}>
      <div className="section-title">Sweep: {ids.size} runs of {fn}</div>
      <ErrorBanner message={error} />
      <div className="charts">
        {metrics.map((m) => (
          <LineChart key={m} title={m} data={alignSeries(list.map((c) => c.points), m)} labels={labels}
            highlight={best >= 0 ? list.findIndex((c) => c.run.id === bestId) : undefined} />
        ))}
      </div>
      <div className="sweep-tools">
        best by
        <select value={chosen} data-testid="sweep-metric" onChange={(e) => setMetric(e.target.value)}>
          {metrics.map((m) => <option key={m} value={m}>{m}</option>)}
        </select>
        <select value={mode} data-testid="sweep-mode" onChange={(e) => setMode(e.target.value as 'max' | 'min')}>
          <option value="max">max</option><option value="min">min</option>
        </select>
      </div>
      <table className="grid" data-testid="sweep-table">
        <thead><tr><th>Run</th><th>State</th>{inputs.map((i) => header(i, 'input', i))}{metrics.map((m) => header(m, 'metric', m))}</tr></thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={r.runId} data-testid="sweep-row" data-run-id={r.runId} data-best={r.runId === bestId ? 'true' : 'false'}
              className={r.runId === bestId ? 'best' : ''}>
              <td><Link href={jobUrl(run.jobId, { run: r.runId, tab: 'metrics' })} className="mono">{r.runId.slice(-10)}</Link></td>
              <td><StateChip state={states.get(r.runId) ?? ''} /></td>
              {inputs.map((i) => <td key={i} className="mono" data-testid="sweep-input" data-name={i}
                data-value={r.inputs[i]?.number ?? r.inputs[i]?.text ?? ''}>{r.inputs[i]?.text ?? ''}</td>)}
              {metrics.map((m) => <td key={m} className="mono" data-testid="sweep-metric-value" data-name={m}
                data-value={r.finals[m] ?? ''}>{r.finals[m] === undefined ? '' : formatNumber(r.finals[m])}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// Each curve's legend: the inputs that differ between children ("learning_rate=0.3"), else the
// run id's tail.
function curveLabels(rows: SweepRow[]): string[] {
  const names = inputNames(rows).filter((n) => new Set(rows.map((r) => r.inputs[n]?.text)).size > 1);
  return rows.map((r) => (names.length ? names.map((n) => `${n}=${r.inputs[n]?.text ?? ''}`).join(' ') : r.runId.slice(-10)));
}
