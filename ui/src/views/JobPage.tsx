// A job: header (state, progress, cancel), run tree, DAG / timeline / figures, and the
// selected run's panel. URL: /jobs/:id?view=dag|timeline|figures&run=<id>&tab=<tab>.
import { useMemo, useState } from 'react';
import { errorMessage } from '../api/client';
import { useAllRuns, useJobLive } from '../live/useJobLive';
import { buildGraph, withCurrentStates } from '../logic/dag';
import { formatDuration, formatTime, spanMicros } from '../logic/format';
import { histogram, isFinalJob } from '../logic/state';
import { setParams } from '../router';
import { CopyButton, ErrorBanner, Mono, StateBar, StateChip, useNow } from './common';
import { DagView } from './DagView';
import { FiguresView } from './FiguresView';
import { RunPanel } from './RunPanel';
import { RunTree } from './RunTree';
import { TimelineView } from './TimelineView';

const NO_GROUPS: ReadonlySet<string> = new Set();

export function JobPage({ jobId, params }: { jobId: string; params: URLSearchParams }) {
  const live = useJobLive(jobId);
  const view = params.get('view') ?? 'dag';
  const runId = params.get('run') ?? '';
  const tab = params.get('tab') ?? 'overview';
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set());
  const [actionError, setActionError] = useState('');
  const [canceling, setCanceling] = useState(false);
  const job = live.job;
  const running = !!job && !isFinalJob(job.state);
  const now = useNow(running);

  const groups = live.groups();
  // A big group stays one node in the graph; opening it lists its runs in the run tree.
  const structure = useMemo(() => buildGraph({ groups, runs: live.runs, inputs: live.inputs,
    expandedGroups: NO_GROUPS, collapsed }),
  // eslint-disable-next-line react-hooks/exhaustive-deps
  [live.structureVersion, collapsed]);
  const graph = useMemo(() => withCurrentStates(structure, groups, live.runs),
  // eslint-disable-next-line react-hooks/exhaustive-deps
  [structure, live.version]);
  const wantRuns = view === 'timeline' || view === 'figures';
  const all = useAllRuns(live, wantRuns);

  const select = (id: string) => setParams({ run: id, tab: id === runId ? tab : tab || 'overview' });
  const toggle = (id: string) => setCollapsed((c) => {
    const n = new Set(c);
    if (n.has(id)) n.delete(id); else n.add(id);
    return n;
  });
  const h = groups.length
    ? groups.filter((g) => !g.builtin).reduce((acc, g) => { histogram(g.runsByState).forEach((n, i) => { acc[i] += n; }); return acc; }, new Array(10).fill(0))
    : histogram(job?.runsByState);

  return (
    <div className="job-page" data-testid="job-page" data-job-id={jobId}>
      <div className="job-header">
        <div className="job-title">
          <h1>{job?.function ?? 'Job'}</h1>
          <Mono>{jobId}</Mono><CopyButton text={jobId} label="copy id" />
          {job && <StateChip state={job.state} testid="job-state" />}
          <span className={`stream stream-${live.streamState}`} data-testid="stream-state" title="event stream">{live.streamState}</span>
        </div>
        <div className="job-meta">
          {job && <span>created {formatTime(job.createdUnixMicros)}</span>}
          {job && <span>duration {formatDuration(spanMicros(job.createdUnixMicros, job.endedUnixMicros, now))}</span>}
          {job?.options?.tags?.map((t) => <span key={t} className="tag">{t}</span>)}
          <div className="job-progress"><StateBar counts={h} testid="job-progress" height={10} /></div>
          {running && (
            <button className="danger" data-testid="cancel-job" disabled={canceling} onClick={async () => {
              setCanceling(true);
              try { await live.cancel(); setActionError(''); } catch (e) { setActionError(errorMessage(e)); }
              setCanceling(false);
            }}>{canceling ? 'Canceling…' : 'Cancel job'}</button>
          )}
        </div>
        {job?.error && <div className="job-error" data-testid="job-error">{job.error}</div>}
      </div>
      <ErrorBanner message={actionError || live.error} onClose={() => { setActionError(''); live.error = ''; }} />
      <div className="job-body">
        <aside className="job-tree">
          <div className="section-title">Runs</div>
          {!live.groupsLoaded ? <div className="muted pad">Loading…</div> :
            <RunTree live={live} selectedRunId={runId} collapsed={collapsed} onSelect={select} onToggle={toggle} />}
        </aside>
        <section className="job-main">
          <div className="tabs" role="tablist">
            {[['dag', 'Graph'], ['timeline', 'Timeline'], ['figures', 'Figures']].map(([k, label]) => (
              <button key={k} role="tab" aria-selected={view === k} className={view === k ? 'tab on' : 'tab'}
                data-testid={`view-${k}`} onClick={() => setParams({ view: k === 'dag' ? undefined : k })}>{label}</button>
            ))}
          </div>
          {view === 'dag' && (live.groupsLoaded
            ? <DagView graph={graph} selectedRunId={runId} onSelectRun={select}
              onExpandGroup={(k) => live.expandGroup(k)} onToggleCluster={toggle} />
            : <div className="muted pad">Loading the graph…</div>)}
          {view === 'timeline' && <TimelineView runs={all.runs} truncated={all.truncated} onSelect={select} selectedRunId={runId} />}
          {view === 'figures' && <FiguresView groups={groups} runs={all.runs} />}
          {all.error && <ErrorBanner message={all.error} />}
        </section>
        {runId && (
          <section className="run-side">
            <RunPanel key={runId} live={live} runId={runId} tab={tab} onClose={() => setParams({ run: undefined, tab: undefined })} />
          </section>
        )}
      </div>
    </div>
  );
}
