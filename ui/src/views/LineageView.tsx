// Lineage of a run or an artifact: its producers and consumers, each a link to its run.
import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { GetLineageResponse, Run } from '../api/types';
import { scalarText } from '../logic/values';
import { jobUrl } from '../router';
import { ErrorBanner, Link, StateChip } from './common';

export function LineageView({ runId, digest, jobId }: { runId?: string; digest?: string; jobId?: string }) {
  const [data, setData] = useState<GetLineageResponse | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    (runId ? api.runLineage(runId) : api.artifactLineage(digest!))
      .then((d) => { if (live) setData(d); }).catch((e) => { if (live) setError(errorMessage(e)); });
    return () => { live = false; };
  }, [runId, digest]);
  if (error) return <ErrorBanner message={error} />;
  if (!data) return <div className="muted pad">Loading lineage…</div>;
  const runs = new Map(data.runs.map((r) => [r.id, r]));
  const producers = data.edges.filter((e) => (runId ? e.consumerRunId === runId : e.artifactDigest === digest));
  const consumers = data.edges.filter((e) => (runId ? e.producerRunId === runId : e.artifactDigest === digest && e.consumerRunId));
  const link = (id: string) => {
    const r = runs.get(id);
    return <RunLink run={r} id={id} jobId={jobId} />;
  };
  return (
    <div className="lineage" data-testid="lineage">
      <div className="section-title">{runId ? 'Inputs from' : 'Produced by'}</div>
      <table className="grid" data-testid="lineage-producers">
        <thead><tr><th>Input</th><th>Producer</th><th>Artifact</th></tr></thead>
        <tbody>
          {(runId ? producers : producers.filter((e, i, a) => a.findIndex((x) => x.producerRunId === e.producerRunId) === i)).map((e, i) => (
            <tr key={i} data-testid="lineage-producer">
              <td>{runId ? e.inputName : ''}</td>
              <td>{e.producerRunId ? link(e.producerRunId) : e.literal ? <span className="mono">literal {scalarText(e.literal)}</span> : <span className="muted">given at submission</span>}</td>
              <td>{e.artifactDigest && <Link href={`/artifacts/${e.artifactDigest}`} className="mono small-text">{e.artifactDigest.slice(0, 12)}…</Link>}</td>
            </tr>
          ))}
          {producers.length === 0 && <tr><td colSpan={3} className="muted">none</td></tr>}
        </tbody>
      </table>
      <div className="section-title">Consumed by</div>
      <table className="grid" data-testid="lineage-consumers">
        <thead><tr><th>Consumer</th><th>As input</th><th>Artifact</th></tr></thead>
        <tbody>
          {consumers.map((e, i) => (
            <tr key={i} data-testid="lineage-consumer">
              <td>{link(e.consumerRunId)}</td><td>{e.inputName}</td>
              <td>{e.artifactDigest && <Link href={`/artifacts/${e.artifactDigest}`} className="mono small-text">{e.artifactDigest.slice(0, 12)}…</Link>}</td>
            </tr>
          ))}
          {consumers.length === 0 && <tr><td colSpan={3} className="muted">none</td></tr>}
        </tbody>
      </table>
    </div>
  );
}

function RunLink({ run, id, jobId }: { run?: Run; id: string; jobId?: string }) {
  const job = run?.jobId || jobId || '';
  return (
    <span className="run-link">
      <Link href={jobUrl(job, { run: id })} className="mono" testid="lineage-run-link">{run?.function ?? id}</Link>
      {run && <StateChip state={run.state} />}
    </span>
  );
}
