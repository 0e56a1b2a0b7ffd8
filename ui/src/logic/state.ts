// Run and job states: index in the protos' enums, colours (the same everywhere), finality.
import { JOB_STATES, RUN_STATES, type JobState, type RunState } from '../api/types';

export const STATE_COLORS: Record<string, string> = {
  RUN_STATE_UNSPECIFIED: '#9aa0a6', CREATED: '#b0b7c3', QUEUED: '#c9a227', ASSIGNED: '#d9b54a',
  RUNNING: '#2f7de1', WAITING: '#7a66d4', SUCCEEDED: '#2e9e5b', FAILED: '#d93b3b',
  CANCELED: '#8a8f98', TIMED_OUT: '#e0712c',
  JOB_STATE_UNSPECIFIED: '#9aa0a6', JOB_PENDING: '#c9a227', JOB_RUNNING: '#2f7de1',
  JOB_SUCCEEDED: '#2e9e5b', JOB_FAILED: '#d93b3b', JOB_CANCELED: '#8a8f98',
};

export const FINAL_RUN_STATES: ReadonlySet<RunState> =
  new Set<RunState>(['SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT']);
export const FINAL_JOB_STATES: ReadonlySet<JobState> =
  new Set<JobState>(['JOB_SUCCEEDED', 'JOB_FAILED', 'JOB_CANCELED']);

export function runStateIndex(s: RunState): number {
  const i = RUN_STATES.indexOf(s);
  return i < 0 ? 0 : i;
}
export function jobStateIndex(s: JobState): number {
  const i = JOB_STATES.indexOf(s);
  return i < 0 ? 0 : i;
}
export function isFinalRun(s: RunState): boolean { return FINAL_RUN_STATES.has(s); }
export function isFinalJob(s: JobState): boolean { return FINAL_JOB_STATES.has(s); }

// "JOB_RUNNING" -> "RUNNING" for display.
export function stateLabel(s: string): string { return s.replace(/^JOB_/, ''); }

// A runsByState array (int64 strings, indexed by RunState) as numbers of length 10.
export function histogram(byState: readonly (string | number)[] | undefined): number[] {
  const out = new Array<number>(RUN_STATES.length).fill(0);
  (byState ?? []).forEach((v, i) => { if (i < out.length) out[i] = Number(v) || 0; });
  return out;
}

// The non-empty states of a histogram, in enum order: [state, count].
export function histogramEntries(h: readonly number[]): [RunState, number][] {
  const out: [RunState, number][] = [];
  h.forEach((n, i) => { if (n > 0) out.push([RUN_STATES[i], n]); });
  return out;
}

// The state a group shows: failure first, then activity, then success.
export function dominantState(h: readonly number[]): RunState {
  const order: RunState[] = ['FAILED', 'TIMED_OUT', 'RUNNING', 'ASSIGNED', 'WAITING', 'QUEUED',
    'CREATED', 'CANCELED', 'SUCCEEDED'];
  for (const s of order) if (h[runStateIndex(s)] > 0) return s;
  return 'RUN_STATE_UNSPECIFIED';
}
