// The selected run: overview (state, attempts, worker, timings, error), inputs, output,
// logs, metrics, lineage. The run is re-read when the job's events say it changed.
import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { Run } from '../api/types';
import type { JobLive } from '../live/jobLive';
import { formatDuration, formatTime, micros, spanMicros } from '../logic/format';
import { isFinalRun } from '../logic/state';
import { setParams } from '../router';
import { CopyButton, ErrorBanner, Link, Mono, StateChip, useNow } from './common';
import { LineageView } from './LineageView';
import { LogsTab } from './LogsTab';
import { MetricsTab } from './MetricsTab';
import { ArtifactValue, ValueView } from './values/ValueView';

const TABS = [['overview', 'Overview'], ['inputs', 'Inputs'], ['output', 'Output'], ['logs', 'Logs'],
  ['metrics', 'Metrics'], ['lineage', 'Lineage']] as const;

// The run, fetched and re-fetched whenever an event for it arrives (at most every 250 ms).
export function useRun(live: JobLive, runId: string): { run: Run | null; error: string } {
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const load = () => {
      last = Date.now();
      api.getRun(runId).then((r) => { if (alive) { setRun(r); setError(''); } })
        .catch((e) => { if (alive) setError(errorMessage(e)); });
    };
    load();
    const off = live.onRuns((batch) => {
      const ev = batch.find((r) => r.id === runId);
      if (!ev) return;
      setRun((cur) => (cur ? { ...cur, ...ev, inputs: cur.inputs, attempts: ev.attempts.length ? ev.attempts : cur.attempts } : cur));
      if (timer) return;
      timer = setTimeout(() => { timer = null; if (alive) load(); }, Math.max(0, last + 250 - Date.now()));
    });
    return () => { alive = false; off(); if (timer) clearTimeout(timer); };
  }, [live, runId]);
  return { run, error };
}

export function RunPanel({ live, runId, tab, onClose }: { live: JobLive; runId: string; tab: string; onClose: () => void }) {
  const { run, error } = useRun(live, runId);
  return (
    <div className="run-panel" data-testid="run-panel" data-run-id={runId} data-state={run?.state ?? ''}>
      <div className="run-panel-head">
        <div>
          <b>{run?.function ?? '…'}</b> {run && <StateChip state={run.state} testid="run-state" />}
          <div><Mono>{runId}</Mono> <CopyButton text={runId} label="copy id" /></div>
          {run?.label && <div className="muted small-text">{run.label}</div>}
        </div>
        <button className="small" onClick={onClose} aria-label="close run panel">×</button>
      </div>
      <ErrorBanner message={error} />
      {run?.error && <div className="run-error" data-testid="run-error">{run.error}</div>}
      <div className="tabs" role="tablist">
        {TABS.map(([k, label]) => (
          <button key={k} role="tab" aria-selected={tab === k} className={tab === k ? 'tab on' : 'tab'}
            data-testid={`tab-${k}`} onClick={() => setParams({ tab: k })}>{label}</button>
        ))}
      </div>
      <div className="run-panel-body">
        {run && tab === 'overview' && <Overview run={run} />}
        {run && tab === 'inputs' && <Inputs run={run} jobId={live.jobId} />}
        {run && tab === 'output' && (run.outputDigest
          ? <ArtifactValue digest={run.outputDigest} testid="output-value" />
          : <div className="muted pad">{isFinalRun(run.state) ? 'No output.' : 'No output yet.'}</div>)}
        {tab === 'logs' && <LogsTab runId={runId} />}
        {run && tab === 'metrics' && <MetricsTab live={live} run={run} />}
        {tab === 'lineage' && <LineageView runId={runId} jobId={live.jobId} />}
      </div>
    </div>
  );
}

function Overview({ run }: { run: Run }) {
  const now = useNow(!isFinalRun(run.state));
  const attempts = [...run.attempts.map((a) => ({ ...a, latest: false })),
    { attempt: run.attempt, workerId: run.workerId, startedUnixMicros: run.startedUnixMicros,
      endedUnixMicros: run.endedUnixMicros, outcome: run.state, error: run.error, latest: true }];
  return (
    <div className="overview">
      <div className="kv">
        <span>state</span><b>{run.state}</b>
        <span>worker</span><b className="mono" data-testid="run-worker">{run.workerId || '—'}</b>
        <span>created</span><b>{formatTime(run.createdUnixMicros)}</b>
        <span>started</span><b>{formatTime(run.startedUnixMicros) || '—'}</b>
        <span>ended</span><b>{formatTime(run.endedUnixMicros) || '—'}</b>
        <span>queued for</span><b>{micros(run.startedUnixMicros) ? formatDuration(micros(run.startedUnixMicros) - micros(run.createdUnixMicros)) : '—'}</b>
        <span>duration</span><b data-testid="run-duration">{formatDuration(spanMicros(run.startedUnixMicros, run.endedUnixMicros, now))}</b>
        {run.queuedReason && <><span>waiting because</span><b>{run.queuedReason}</b></>}
        <span>version</span><b>{run.version || '—'}</b>
        {run.parentId && <><span>parent</span><b><Link href={`?run=${run.parentId}`} className="mono">{run.parentId}</Link></b></>}
      </div>
      <div className="section-title">Attempts</div>
      <table className="grid" data-testid="attempts">
        <thead><tr><th>#</th><th>Worker</th><th>Started</th><th>Duration</th><th>How it ended</th><th>Error</th></tr></thead>
        <tbody>
          {attempts.map((a) => (
            <tr key={`${a.attempt}-${a.latest}`} data-testid="attempt-row" data-outcome={a.outcome}>
              <td>{a.attempt}</td><td className="mono">{a.workerId || '—'}</td>
              <td className="nowrap">{formatTime(a.startedUnixMicros)}</td>
              <td>{formatDuration(spanMicros(a.startedUnixMicros, a.endedUnixMicros, now))}</td>
              <td><StateChip state={a.outcome} testid="attempt-outcome" />{a.latest && !isFinalRun(a.outcome) ? ' (current)' : ''}</td>
              <td className="small-text">{a.error}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Inputs({ run, jobId }: { run: Run; jobId: string }) {
  if (!run.inputs.length) return <div className="muted pad">No inputs.</div>;
  return (
    <div className="inputs" data-testid="inputs">
      {run.inputs.map((inp) => (
        <div key={inp.name} className="input-item" data-testid="input-item" data-name={inp.name}>
          <div className="input-head">
            <b>{inp.name}</b>
            {inp.producerRunId && <span className="muted small-text"> from <Link href={`/jobs/${jobId}?run=${inp.producerRunId}&tab=output`} className="mono">{inp.producerRunId}</Link></span>}
            {!inp.literal && !inp.digest && <span className="muted small-text"> (not produced yet)</span>}
          </div>
          {inp.literal ? <ValueView value={inp.literal} />
            : inp.digest ? <ArtifactValue digest={inp.digest} /> : null}
        </div>
      ))}
    </div>
  );
}
