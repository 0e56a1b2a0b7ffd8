// The URL is the state of every view: page, job, selected run, tab. pushState routing.
import { useEffect, useState } from 'react';

export type Route =
  | { page: 'jobs' }
  | { page: 'job'; jobId: string }
  | { page: 'workers' }
  | { page: 'artifact'; digest: string }
  | { page: 'notfound'; path: string };

export function parseRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'jobs' };
  if (parts[0] === 'jobs' && parts.length === 1) return { page: 'jobs' };
  if (parts[0] === 'jobs' && parts.length === 2) return { page: 'job', jobId: parts[1] };
  if (parts[0] === 'workers' && parts.length === 1) return { page: 'workers' };
  if (parts[0] === 'artifacts' && parts.length === 2) return { page: 'artifact', digest: parts[1] };
  return { page: 'notfound', path: pathname };
}

export function jobUrl(jobId: string, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return `/jobs/${jobId}${s ? `?${s}` : ''}`;
}

const listeners = new Set<() => void>();

export function navigate(url: string, replace = false): void {
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const fn of listeners) fn();
}

// Sets (or with undefined removes) query parameters of the current URL.
export function setParams(params: Record<string, string | undefined>, replace = false): void {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(location.pathname + (s ? `?${s}` : ''), replace);
}

export function useLocation(): { route: Route; params: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const fn = () => setTick((t) => t + 1);
    listeners.add(fn);
    window.addEventListener('popstate', fn);
    return () => { listeners.delete(fn); window.removeEventListener('popstate', fn); };
  }, []);
  return { route: parseRoute(location.pathname), params: new URLSearchParams(location.search) };
}
