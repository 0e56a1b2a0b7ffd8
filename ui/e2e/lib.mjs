// Shared helpers of the browser tests: the JSON API, bounded waits, the browser.
import { chromium } from 'playwright-core';

export const BASE = (process.env.SEMATIC_URL || 'http://127.0.0.1:7071').replace(/\/$/, '');

export async function apiGet(path) {
  const res = await fetch(`${BASE}/api/v1${path}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

export async function apiPost(path, body) {
  const res = await fetch(`${BASE}/api/v1${path}`, { method: 'POST', body: body ? JSON.stringify(body) : '' });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

// Polls `fn` until it returns a truthy value or `ms` pass; throws naming `what`.
export async function waitFor(what, ms, fn, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

// Submits `fn(args)`; retries 404 (workers register asynchronously) for up to 30 s.
export async function submit(fn, args, options) {
  const body = { function: fn, args: Object.entries(args).map(([name, value]) => ({ name, value })) };
  if (options) body.options = options;
  return waitFor(`submitting ${fn}`, 30000, async () => {
    const r = await apiPost('/jobs', body);
    if (r.status === 200) return r.body.job;
    if (r.status === 404) return null;
    throw new Error(`POST /jobs ${fn}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }, 250);
}

export async function waitJobFinal(jobId, ms = 60000) {
  return waitFor(`job ${jobId} to end`, ms, async () => {
    const j = await apiGet(`/jobs/${jobId}`);
    return ['JOB_SUCCEEDED', 'JOB_FAILED', 'JOB_CANCELED'].includes(j.state) ? j : null;
  }, 200);
}

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
}
