// The shell: left navigation and the page the URL names.
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { SchedulerInfo } from '../api/types';
import { useLocation } from '../router';
import { ArtifactPage } from './ArtifactPage';
import { Link } from './common';
import { JobPage } from './JobPage';
import { JobsPage } from './JobsPage';
import { WorkersPage } from './WorkersPage';

export function App() {
  const { route, params } = useLocation();
  const [info, setInfo] = useState<SchedulerInfo | null>(null);
  useEffect(() => { api.info().then(setInfo).catch(() => {}); }, []);
  return (
    <div className="app">
      <nav className="nav" data-testid="nav">
        <div className="brand">Sematic</div>
        <Link href="/" className={route.page === 'jobs' || route.page === 'job' ? 'nav-item on' : 'nav-item'} testid="nav-jobs">Jobs</Link>
        <Link href="/workers" className={route.page === 'workers' ? 'nav-item on' : 'nav-item'} testid="nav-workers">Workers</Link>
        <div className="nav-foot muted small-text">
          {info && <>
            <div>scheduler {info.version}</div>
            <div>live: {info.jobs} jobs · {info.runs} runs</div>
            <div>{info.queuedRuns} queued{info.recovering ? ' · recovering' : ''}</div>
          </>}
        </div>
      </nav>
      <main className="main">
        {route.page === 'jobs' && <JobsPage params={params} />}
        {route.page === 'job' && <JobPage key={route.jobId} jobId={route.jobId} params={params} />}
        {route.page === 'workers' && <WorkersPage />}
        {route.page === 'artifact' && <ArtifactPage key={route.digest} digest={route.digest} />}
        {route.page === 'notfound' && <div className="page"><h1>Not found</h1><p className="muted">No page at {route.path}.</p></div>}
      </main>
    </div>
  );
}
