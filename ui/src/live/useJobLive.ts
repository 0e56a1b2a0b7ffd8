// React bindings of JobLive: one instance per job page, re-rendering once per applied batch.
import { useEffect, useState, useSyncExternalStore } from 'react';
import { api } from '../api/client';
import type { Run } from '../api/types';
import { JobLive } from './jobLive';

export function useJobLive(jobId: string): JobLive {
  const [live, setLive] = useState(() => JobLive.open(jobId));
  useEffect(() => {
    let current = live;
    if (current.jobId !== jobId) {
      current = JobLive.open(jobId);
      setLive(current);
    }
    return () => current.close();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jobId]);
  useSyncExternalStore((fn) => live.subscribe(fn), () => live.version);
  return live;
}

const MAX_TIMELINE_RUNS = 5000;

// Every run of the job (up to MAX_TIMELINE_RUNS), kept current from the job's events.
export function useAllRuns(live: JobLive, enabled: boolean): { runs: Run[]; truncated: boolean; error: string } {
  const [state, setState] = useState<{ runs: Map<string, Run>; truncated: boolean; error: string }>(
    () => ({ runs: new Map(), truncated: false, error: '' }));
  useEffect(() => {
    if (!enabled) return;
    let alive = true;
    const runs = new Map<string, Run>();
    const off = live.onRuns((batch) => {
      for (const r of batch) if (runs.has(r.id) || runs.size < MAX_TIMELINE_RUNS) runs.set(r.id, r);
      setState((s) => ({ ...s, runs: new Map(runs) }));
    });
    (async () => {
      let token = '';
      try {
        do {
          const reply = await api.listRuns(live.jobId, { page_size: 1000, page_token: token || undefined });
          for (const r of reply.runs) if (!runs.has(r.id)) runs.set(r.id, r);
          token = reply.nextPageToken;
          if (!alive) return;
          setState({ runs: new Map(runs), truncated: !!token && runs.size >= MAX_TIMELINE_RUNS, error: '' });
        } while (token && runs.size < MAX_TIMELINE_RUNS);
      } catch (e) {
        if (alive) setState((s) => ({ ...s, error: e instanceof Error ? e.message : String(e) }));
      }
    })();
    return () => { alive = false; off(); };
  }, [live, enabled]);
  return { runs: [...state.runs.values()], truncated: state.truncated, error: state.error };
}
