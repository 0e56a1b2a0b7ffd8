// The JSON API client (docs/http.md). Every call resolves to the reply message or rejects with
// an ApiError carrying the gateway's one-line HttpError message.
import type {
  CancelJobResponse, GetArtifactResponse, GetLineageResponse, GetRunMetricsResponse, Job, JobState, ListFunctionsResponse, ListJobsResponse, ListRunGroupsResponse, ListRunsResponse, ListWorkersResponse, LogLines, Run, RunState, SchedulerInfo, TypedValue,
} from './types';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

export function queryString(q: Query): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) {
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(item))}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

export const API = '/api/v1';

async function request<T>(method: string, path: string, q: Query = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(API + path + queryString(q), { method });
  } catch (e) {
    throw new ApiError(0, 'UNAVAILABLE', `${method} ${path}: the server did not answer`);
  }
  const text = await res.text();
  if (!res.ok) {
    let code = `HTTP_${res.status}`;
    let message = text.split('\n')[0] || `${method} ${path}: HTTP ${res.status}`;
    try {
      const err = JSON.parse(text);
      if (err && typeof err.message === 'string') {
        code = err.code || code;
        message = err.message;
      }
    } catch { /* not JSON: keep the first line */ }
    throw new ApiError(res.status, code, message);
  }
  return JSON.parse(text) as T;
}

export const api = {
  listJobs: (q: { states?: JobState[]; function?: string; tag?: string; page_size?: number;
    page_token?: string }) => request<ListJobsResponse>('GET', '/jobs', q),
  getJob: (id: string) => request<Job>('GET', `/jobs/${id}`),
  cancelJob: (id: string) => request<CancelJobResponse>('POST', `/jobs/${id}/cancel`),
  listRuns: (jobId: string, q: { parent_id?: string; function?: string; states?: RunState[];
    page_size?: number; page_token?: string }) =>
    request<ListRunsResponse>('GET', `/jobs/${jobId}/runs`, q),
  runGroups: (jobId: string) => request<ListRunGroupsResponse>('GET', `/jobs/${jobId}/run_groups`),
  getRun: (id: string) => request<Run>('GET', `/runs/${id}`),
  logs: (id: string, from = 0) => request<LogLines>('GET', `/runs/${id}/logs`, { from_index: from }),
  metrics: (id: string) => request<GetRunMetricsResponse>('GET', `/runs/${id}/metrics`),
  runLineage: (id: string) => request<GetLineageResponse>('GET', `/runs/${id}/lineage`),
  artifact: (digest: string) => request<GetArtifactResponse>('GET', `/artifacts/${digest}`),
  artifactValue: (digest: string) => request<TypedValue>('GET', `/artifacts/${digest}/value`),
  artifactLineage: (digest: string) =>
    request<GetLineageResponse>('GET', `/artifacts/${digest}/lineage`),
  workers: () => request<ListWorkersResponse>('GET', '/workers'),
  functions: () => request<ListFunctionsResponse>('GET', '/functions'),
  info: () => request<SchedulerInfo>('GET', '/info'),
  async artifactBytes(digest: string): Promise<Uint8Array> {
    const res = await fetch(`${API}/artifacts/${digest}/bytes`);
    if (!res.ok) throw new ApiError(res.status, `HTTP_${res.status}`, `artifact ${digest}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  },
};

export const urls = {
  bytes: (digest: string) => `${API}/artifacts/${digest}/bytes`,
  image: (digest: string) => `${API}/artifacts/${digest}/image`,
  logsTxt: (runId: string) => `${API}/runs/${runId}/logs.txt`,
  jobEvents: (jobId: string, after?: string) =>
    `${API}/jobs/${jobId}/events${after ? queryString({ after_sequence: after }) : ''}`,
  logEvents: (runId: string) => `${API}/runs/${runId}/logs/events`,
};

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0];
  return String(e).split('\n')[0];
}
