// The one place a job page's live state comes from: the job, its run groups (live state
// histograms) and the runs loaded so far, kept current by one EventSource on
// /api/v1/jobs/:id/events. Events are applied in batches once per animation frame, and views
// are told once per batch (subscribe / version). Views never fetch job state themselves.
//
//   const live = JobLive.open(jobId);  const off = live.subscribe(() => render(live));
//   live.expandGroup(key); live.close();
import { api, ApiError, errorMessage, urls } from '../api/client';
import type { HttpError, Job, JobEvent, ListRunGroupsResponse, Run, RunGroup, RunInput, RunState } from '../api/types';
import { AGGREGATE_THRESHOLD, groupKey } from '../logic/dag';
import { GroupTracker } from '../logic/groups';
import { isFinalJob, isFinalRun, runStateIndex } from '../logic/state';

// Re-reads of the groups are at least this far apart, and at least 8x as long as the last one
// took: ListRunGroups walks every run of the job on the scheduler's loop (~0.35 s at 100k runs),
// so a big job's page must not keep the scheduler busy.
const RESYNC_MS = 1000;
const RESYNC_COST_FACTOR = 8;
const SAMPLE_PAGE = 200;
const INPUT_FETCH_CONCURRENCY = 6;

// requestAnimationFrame, or a 16 ms timer where there is none (a hidden tab still runs timers).
function raf(cb: () => void): number {
  return typeof requestAnimationFrame === 'function' && !document.hidden
    ? requestAnimationFrame(cb) : (setTimeout(cb, 16) as unknown as number);
}

// How far along its life cycle a run state is (retries aside).
function progress(s: RunState): number {
  return isFinalRun(s) ? 10 : runStateIndex(s);
}

export type RunBatchListener = (runs: Run[]) => void;

export class JobLive {
  job: Job | null = null;
  error = '';
  streamState: 'connecting' | 'live' | 'ended' | 'closed' = 'connecting';
  version = 0;
  // Bumped when what the graph is made of changes (runs loaded, inputs, groups), not states.
  structureVersion = 0;
  groupsLoaded = false;
  readonly runs = new Map<string, Run>();
  readonly inputs = new Map<string, RunInput[]>();
  readonly expanded = new Set<string>();
  readonly truncatedGroups = new Map<string, string>();  // key -> next page token

  private tracker = new GroupTracker();
  private source: EventSource | null = null;
  private pending: JobEvent[] = [];
  private frame = 0;
  private notifyFrame = 0;
  private listeners = new Set<() => void>();
  private runListeners = new Set<RunBatchListener>();
  private lastSequence = '';
  private resyncTimer: ReturnType<typeof setTimeout> | null = null;
  private lastResync = 0;
  private resyncEvery = RESYNC_MS;
  private inputQueue: string[] = [];
  private inputInFlight = 0;
  private inputRequested = new Set<string>();
  private loadingGroups = new Set<string>();
  private closed = false;

  private constructor(readonly jobId: string) {}

  static open(jobId: string): JobLive {
    const live = new JobLive(jobId);
    void live.start();
    return live;
  }

  groups(): RunGroup[] { return this.tracker.list(); }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // Called once per applied batch with the runs that changed in it.
  onRuns(fn: RunBatchListener): () => void {
    this.runListeners.add(fn);
    return () => this.runListeners.delete(fn);
  }

  close(): void {
    this.closed = true;
    this.source?.close();
    this.source = null;
    this.streamState = 'closed';
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
  }

  async cancel(): Promise<void> {
    const reply = await api.cancelJob(this.jobId);
    this.job = reply.job;
    this.notify();
  }

  // Opens an aggregated group into its runs (the first page; more with loadMore).
  expandGroup(key: string): void {
    this.expanded.add(key);
    this.structureVersion++;
    this.notify();
    const g = this.groups().find((x) => groupKey(x.parentId, x.function) === key);
    if (g) void this.loadGroupRuns(g, true);
  }

  collapseGroup(key: string): void {
    this.expanded.delete(key);
    this.structureVersion++;
    this.notify();
  }

  async loadMore(key: string): Promise<void> {
    const g = this.groups().find((x) => groupKey(x.parentId, x.function) === key);
    const token = this.truncatedGroups.get(key);
    if (!g || !token) return;
    await this.loadGroupRuns(g, true, token);
  }

  // Runs of the group that are loaded, in creation (id) order.
  groupRuns(key: string): Run[] {
    const out: Run[] = [];
    for (const r of this.runs.values()) if (groupKey(r.parentId, r.function) === key) out.push(r);
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  // Makes sure `runId` is loaded (a deep link to a run inside an aggregated group).
  async ensureRun(runId: string): Promise<Run | null> {
    const have = this.runs.get(runId);
    if (have) return have;
    try {
      const run = await api.getRun(runId);
      this.runs.set(run.id, run);
      this.inputs.set(run.id, run.inputs);
      this.structureVersion++;
      this.notify();
      return run;
    } catch (e) {
      this.fail(e);
      return null;
    }
  }

  // ---- internals -------------------------------------------------------------------------

  private async start(): Promise<void> {
    // The job and the groups' snapshot together: the first draw waits for one round trip.
    const groups = api.runGroups(this.jobId);
    groups.catch(() => {});
    try {
      this.job = await api.getJob(this.jobId);
    } catch (e) {
      this.fail(e);
      this.streamState = 'ended';
      this.notify();
      return;
    }
    if (this.closed) return;
    if (!isFinalJob(this.job.state)) this.connect('');
    else this.streamState = 'ended';
    await this.resync(groups);
  }

  private connect(after: string): void {
    if (this.closed) return;
    this.source?.close();
    const es = new EventSource(urls.jobEvents(this.jobId, after));
    this.source = es;
    this.streamState = 'connecting';
    es.onopen = () => { this.streamState = 'live'; this.notify(); };
    const onEvent = (m: MessageEvent) => {
      if (m.lastEventId) this.lastSequence = m.lastEventId;
      try {
        this.pending.push(JSON.parse(m.data) as JobEvent);
      } catch {
        return;
      }
      this.schedule();
    };
    es.addEventListener('run', onEvent as EventListener);
    es.addEventListener('job', onEvent as EventListener);
    es.addEventListener('end', ((m: MessageEvent) => {
      es.close();
      let end: HttpError = { code: 'OK', message: '' };
      try { end = JSON.parse(m.data) as HttpError; } catch { /* keep OK */ }
      if (end.code === 'RESOURCE_EXHAUSTED') {
        // Fell behind: resume after the last stored event and re-read current states.
        this.connect(this.lastSequence);
        this.scheduleResync(0);
        return;
      }
      this.streamState = 'ended';
      if (end.code !== 'OK' && end.code !== 'CANCELLED') this.error = `event stream: ${end.message}`;
      this.flush();
      this.scheduleResync(0);
      void api.getJob(this.jobId).then((j) => { this.job = j; this.notify(); }).catch(() => {});
    }) as EventListener);
    es.onerror = () => {
      // EventSource reconnects by itself (sending Last-Event-ID); progress missed meanwhile is
      // re-read from the groups.
      if (this.streamState !== 'ended') {
        this.streamState = 'connecting';
        this.scheduleResync(RESYNC_MS);
        this.notify();
      }
    };
  }

  private schedule(): void {
    if (this.frame || this.closed) return;
    this.frame = raf(() => { this.frame = 0; this.flush(); });
  }

  // Applies the events queued since the last frame.
  private flush(): void {
    if (!this.groupsLoaded) return;  // applied after the first snapshot
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    const changed = new Map<string, Run>();
    const shapeBefore = this.groupShape();
    let jobEnded = false;
    for (const ev of batch) {
      if (ev.job) {
        this.job = ev.job;
        if (isFinalJob(ev.job.state)) jobEnded = true;
      } else if (ev.run) {
        const run = ev.run;
        const key = this.tracker.apply(run);
        changed.set(run.id, run);
        const g = this.groups().find((x) => groupKey(x.parentId, x.function) === key);
        const small = !g || Number(g.count) <= AGGREGATE_THRESHOLD || this.expanded.has(key);
        const prev = this.runs.get(run.id);
        if (prev) {
          // Events carry no inputs: keep what GET returned.
          this.runs.set(run.id, { ...run, inputs: prev.inputs.length ? prev.inputs : run.inputs });
        } else if (small) {
          this.runs.set(run.id, run);
          this.structureVersion++;
          this.requestInputs(run.id);
        }
      }
    }
    if (this.groupShape() !== shapeBefore) this.structureVersion++;
    if (this.tracker.needsResync || this.tracker.structureChanged) this.scheduleResync(RESYNC_MS);
    if (jobEnded) this.scheduleResync(0);
    const runs = [...changed.values()];
    for (const fn of this.runListeners) fn(runs);
    this.notify();
  }

  private scheduleResync(minDelay: number): void {
    if (this.closed || this.resyncTimer) return;
    const wait = Math.max(minDelay, this.lastResync + this.resyncEvery - Date.now(), 0);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = null;
      void this.resync();
    }, wait);
  }

  // Re-reads the groups (the snapshot of every histogram) and loads the runs of small groups.
  private async resync(pending?: Promise<ListRunGroupsResponse>): Promise<void> {
    const started = Date.now();
    this.lastResync = started;
    let groups: RunGroup[];
    try {
      groups = (await (pending ?? api.runGroups(this.jobId))).groups;
    } catch (e) {
      this.fail(e);
      return;
    }
    this.lastResync = Date.now();
    this.resyncEvery = Math.max(RESYNC_MS, RESYNC_COST_FACTOR * (this.lastResync - started));
    if (this.closed) return;
    this.tracker.reset(groups);
    if (this.tracker.structureChanged) this.structureVersion++;
    this.tracker.structureChanged = false;
    const first = !this.groupsLoaded;
    this.groupsLoaded = true;
    if (first) this.flush();
    this.notify();
    const loads: Promise<void>[] = [];
    for (const g of groups) {
      const key = groupKey(g.parentId, g.function);
      const have = this.groupRuns(key).length;
      const count = Number(g.count);
      const small = count <= AGGREGATE_THRESHOLD || this.expanded.has(key);
      if (small && have < count) loads.push(this.loadGroupRuns(g, false));
      else if (!small && have === 0) loads.push(this.loadGroupRuns(g, false, '', true));
    }
    await Promise.all(loads);
  }

  // `sample`: an aggregated group's first page, only to know which runs it holds (edges).
  private async loadGroupRuns(g: RunGroup, expanded: boolean, token = '', sample = false): Promise<void> {
    const key = groupKey(g.parentId, g.function);
    const lockKey = `${key}#${token}#${sample ? 'sample' : expanded ? 'open' : 'all'}`;
    if (this.loadingGroups.has(lockKey)) return;
    this.loadingGroups.add(lockKey);
    try {
      let pageToken = token;
      let pages = 0;
      do {
        const reply = await api.listRuns(this.jobId, { parent_id: g.parentId, function: g.function,
          page_size: sample ? SAMPLE_PAGE : expanded ? 500 : 100, page_token: pageToken || undefined });
        for (const r of reply.runs) {
          const prev = this.runs.get(r.id);
          this.runs.set(r.id, prev && prev.inputs.length && !r.inputs.length ? { ...r, inputs: prev.inputs } : r);
          if (!prev) this.structureVersion++;
          if (!sample || g.builtin) this.requestInputs(r.id);
        }
        pageToken = reply.nextPageToken;
        pages++;
        if (expanded && pageToken) {
          this.truncatedGroups.set(key, pageToken);
          break;
        }
        if (expanded) this.truncatedGroups.delete(key);
        this.notify();
      } while (pageToken && !sample && pages < 10);
      // The consumers of a sampled group's runs carry the edges; builtin gathers too.
    } catch (e) {
      this.fail(e);
    } finally {
      this.loadingGroups.delete(lockKey);
      this.notify();
    }
  }

  // How many groups there are and how many are drawn aggregated: when either changes, so does
  // the graph's structure.
  private groupShape(): string {
    const groups = this.tracker.list();
    return `${groups.length}/${groups.filter((g) => Number(g.count) > AGGREGATE_THRESHOLD).length}`;
  }

  // Inputs come only from GET runs/:id (listings and events leave them out).
  private requestInputs(runId: string): void {
    if (this.inputRequested.has(runId)) return;
    this.inputRequested.add(runId);
    this.inputQueue.push(runId);
    this.pumpInputs();
  }

  private pumpInputs(): void {
    while (this.inputInFlight < INPUT_FETCH_CONCURRENCY && this.inputQueue.length && !this.closed) {
      const id = this.inputQueue.shift()!;
      this.inputInFlight++;
      api.getRun(id).then((run) => {
        this.inputs.set(id, run.inputs);
        this.structureVersion++;
        const cur = this.runs.get(id);
        // Events may have moved the run on while the GET was in flight: keep the later state.
        this.runs.set(id, cur && progress(cur.state) > progress(run.state)
          ? { ...run, state: cur.state, error: cur.error, endedUnixMicros: cur.endedUnixMicros,
            startedUnixMicros: cur.startedUnixMicros, workerId: cur.workerId, outputDigest: cur.outputDigest }
          : run);
        this.notify();
      }).catch((e) => {
        if (!(e instanceof ApiError && e.status === 404)) this.fail(e);
      }).finally(() => {
        this.inputInFlight--;
        this.pumpInputs();
      });
    }
  }

  private fail(e: unknown): void {
    this.error = errorMessage(e);
    this.notify();
  }

  // Views hear of changes once per animation frame at most.
  private notify(): void {
    this.version++;
    if (this.notifyFrame || this.closed) return;
    this.notifyFrame = raf(() => {
      this.notifyFrame = 0;
      for (const fn of this.listeners) fn();
    });
  }
}
