// Workers: resources, free slots, labels, running count, draining; re-read every 2 s.
import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { WorkerInfo } from '../api/types';
import { formatBytes, formatTime } from '../logic/format';
import { ErrorBanner, Mono } from './common';

export function WorkersPage() {
  const [workers, setWorkers] = useState<WorkerInfo[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout>;
    const load = () => api.workers()
      .then((r) => { if (live) { setWorkers(r.workers); setError(''); } })
      .catch((e) => { if (live) setError(errorMessage(e)); })
      .finally(() => { if (live) timer = setTimeout(load, 2000); });
    void load();
    return () => { live = false; clearTimeout(timer); };
  }, []);
  return (
    <div className="page" data-testid="workers-page">
      <div className="page-header"><h1>Workers</h1><span className="muted">{workers?.length ?? 0} connected</span></div>
      <ErrorBanner message={error} />
      <table className="grid" data-testid="workers-table">
        <thead><tr><th>Worker</th><th>Slots free</th><th>Running</th><th>CPUs</th><th>Memory</th><th>GPUs</th>
          <th>Labels</th><th>Functions</th><th>Heartbeat</th><th>State</th></tr></thead>
        <tbody>
          {(workers ?? []).map((w) => (
            <tr key={w.workerId} data-testid="worker-row" data-worker-id={w.workerId}>
              <td><Mono>{w.workerId}</Mono>{w.peer && <div className="muted small-text">{w.peer}</div>}</td>
              <td data-testid="worker-free-slots">{Math.max(0, w.maxConcurrentRuns - w.running)} / {w.maxConcurrentRuns}</td>
              <td data-testid="worker-running">{w.running}</td>
              <td>{fmt(w.inUse?.cpus)} / {fmt(w.resources?.cpus)}</td>
              <td>{formatBytes(Number(w.inUse?.memoryBytes ?? 0))} / {formatBytes(Number(w.resources?.memoryBytes ?? 0))}</td>
              <td>{w.inUse?.gpus ?? 0} / {w.resources?.gpus ?? 0}</td>
              <td>{Object.entries(w.labels ?? {}).map(([k, v]) => <span key={k} className="tag">{k}={v}</span>)}
                {Object.entries(w.resources?.custom ?? {}).map(([k, v]) => <span key={k} className="tag">{k}: {v}</span>)}</td>
              <td className="small-text">{w.functions.join(', ')}</td>
              <td className="nowrap">{formatTime(w.lastHeartbeatUnixMicros)}</td>
              <td>{w.draining ? <span className="chip" style={{ background: '#e0712c' }} data-testid="worker-draining">DRAINING</span>
                : <span className="chip" style={{ background: '#2e9e5b' }}>SERVING</span>}</td>
            </tr>
          ))}
          {workers && workers.length === 0 && <tr><td colSpan={10} className="muted">No workers connected.</td></tr>}
        </tbody>
      </table>
    </div>
  );
}

function fmt(v: number | undefined): string { return v === undefined ? '0' : String(Math.round(v * 100) / 100); }
