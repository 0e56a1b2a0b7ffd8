// Jobs list: state chips, progress by run state, duration, function, tags; filters and paging.
// Re-lists on a 1-2 s backoff only while a visible job is unfinished (no global event stream).
import { useEffect, useRef, useState } from 'react';
import { api, errorMessage } from '../api/client';
import { JOB_STATES, type Job, type JobState } from '../api/types';
import { formatDuration, formatTime, spanMicros } from '../logic/format';
import { histogram, isFinalJob, stateLabel } from '../logic/state';
import { jobUrl, setParams } from '../router';
import { ErrorBanner, Link, StateBar, StateChip, useNow } from './common';

const PAGE_SIZE = 50;

export function JobsPage({ params }: { params: URLSearchParams }) {
  const states = (params.get('states') ?? '').split(',').filter(Boolean) as JobState[];
  const fn = params.get('function') ?? '';
  const tag = params.get('tag') ?? '';
  const text = params.get('q') ?? '';
  const token = params.get('page') ?? '';
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [next, setNext] = useState('');
  const [error, setError] = useState('');
  const [prevTokens, setPrevTokens] = useState<string[]>([]);
  const [tick, setTick] = useState(0);
  const backoff = useRef(1000);
  const key = `${states.join(',')}|${fn}|${tag}|${token}`;

  useEffect(() => {
    let live = true;
    api.listJobs({ states, function: fn, tag, page_size: PAGE_SIZE, page_token: token || undefined })
      .then((r) => { if (live) { setJobs(r.jobs); setNext(r.nextPageToken); setError(''); } })
      .catch((e) => { if (live) setError(errorMessage(e)); });
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick]);

  const anyRunning = (jobs ?? []).some((j) => !isFinalJob(j.state));
  useEffect(() => {
    if (!anyRunning) { backoff.current = 1000; return; }
    const t = setTimeout(() => setTick((x) => x + 1), backoff.current);
    backoff.current = Math.min(2000, backoff.current * 1.25);
    return () => clearTimeout(t);
  }, [anyRunning, jobs]);
  const now = useNow(anyRunning);

  const q = text.toLowerCase();
  const shown = (jobs ?? []).filter((j) => !q || j.id.includes(q) || j.function.toLowerCase().includes(q) ||
    (j.options?.tags ?? []).some((t) => t.toLowerCase().includes(q)) || j.error.toLowerCase().includes(q));

  const toggleState = (s: JobState) => {
    const set = new Set(states);
    if (set.has(s)) set.delete(s); else set.add(s);
    setPrevTokens([]);
    setParams({ states: [...set].join(',') || undefined, page: undefined });
  };

  return (
    <div className="page" data-testid="jobs-page">
      <div className="page-header"><h1>Jobs</h1>{anyRunning && <span className="live-dot" title="refreshing while jobs run">live</span>}</div>
      <div className="filters">
        {JOB_STATES.slice(1).map((s) => (
          <button key={s} className={`filter-chip ${states.includes(s) ? 'on' : ''}`}
            data-testid={`filter-state-${s}`} onClick={() => toggleState(s)}>{stateLabel(s)}</button>
        ))}
        <FilterInput label="function" value={fn} testid="filter-function"
          onChange={(v) => { setPrevTokens([]); setParams({ function: v || undefined, page: undefined }, true); }} />
        <FilterInput label="tag" value={tag} testid="filter-tag"
          onChange={(v) => { setPrevTokens([]); setParams({ tag: v || undefined, page: undefined }, true); }} />
        <FilterInput label="search" value={text} testid="filter-text"
          onChange={(v) => setParams({ q: v || undefined }, true)} />
      </div>
      <ErrorBanner message={error} />
      <table className="grid" data-testid="jobs-table">
        <thead><tr><th>Job</th><th>State</th><th>Function</th><th>Runs</th><th>Created</th><th>Duration</th><th>Tags</th></tr></thead>
        <tbody>
          {shown.map((j) => {
            const h = histogram(j.runsByState);
            const total = h.reduce((a, b) => a + b, 0);
            return (
              <tr key={j.id} data-testid="job-row" data-job-id={j.id} data-state={j.state}>
                <td><Link href={jobUrl(j.id)} className="mono">{j.id}</Link></td>
                <td><StateChip state={j.state} /></td>
                <td>{j.function}</td>
                <td className="progress-cell"><StateBar counts={h} /><span className="muted small-text">{total}</span></td>
                <td className="nowrap">{formatTime(j.createdUnixMicros)}</td>
                <td className="nowrap">{formatDuration(spanMicros(j.createdUnixMicros, j.endedUnixMicros, now))}</td>
                <td>{(j.options?.tags ?? []).map((t) => (
                  <button key={t} className="tag" onClick={() => setParams({ tag: t, page: undefined })}>{t}</button>
                ))}</td>
              </tr>
            );
          })}
          {jobs && shown.length === 0 && <tr><td colSpan={7} className="muted">No jobs match.</td></tr>}
        </tbody>
      </table>
      {!jobs && !error && <div className="muted pad">Loading jobs…</div>}
      <div className="pager">
        <button disabled={prevTokens.length === 0} data-testid="page-prev" onClick={() => {
          const p = [...prevTokens];
          const t = p.pop();
          setPrevTokens(p);
          setParams({ page: t || undefined });
        }}>← Newer</button>
        <button disabled={!next} data-testid="page-next" onClick={() => {
          setPrevTokens([...prevTokens, token]);
          setParams({ page: next });
        }}>Older →</button>
      </div>
    </div>
  );
}

function FilterInput({ label, value, onChange, testid }: { label: string; value: string;
  onChange: (v: string) => void; testid: string }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  return (
    <label className="filter-input">{label}
      <input value={v} data-testid={testid} onChange={(e) => setV(e.target.value)}
        onKeyDown={(e) => { if (e.key === 'Enter') onChange(v.trim()); }}
        onBlur={() => { if (v.trim() !== value) onChange(v.trim()); }} />
    </label>
  );
}
