// An artifact: its metadata, typed value and lineage (producer and consumers).
import { useEffect, useState } from 'react';
import { api, errorMessage, urls } from '../api/client';
import type { GetArtifactResponse } from '../api/types';
import { formatBytes, formatTime } from '../logic/format';
import { typeName } from '../logic/values';
import { jobUrl } from '../router';
import { CopyButton, ErrorBanner, Link, Mono } from './common';
import { LineageView } from './LineageView';
import { ArtifactValue } from './values/ValueView';

export function ArtifactPage({ digest }: { digest: string }) {
  const [meta, setMeta] = useState<GetArtifactResponse | null>(null);
  const [error, setError] = useState('');
  const [producerJob, setProducerJob] = useState('');
  useEffect(() => {
    let live = true;
    api.artifact(digest).then((m) => {
      if (!live) return;
      setMeta(m);
      if (m.meta?.producerRunId) api.getRun(m.meta.producerRunId).then((r) => live && setProducerJob(r.jobId)).catch(() => {});
    }).catch((e) => live && setError(errorMessage(e)));
    return () => { live = false; };
  }, [digest]);
  const m = meta?.meta;
  return (
    <div className="page" data-testid="artifact-page">
      <div className="page-header"><h1>Artifact</h1><Mono>{digest}</Mono><CopyButton text={digest} label="copy artifact id" /></div>
      <ErrorBanner message={error} />
      {m && (
        <div className="kv">
          <span>type</span><b>{m.payload ? 'raw payload' : typeName(m.type)}</b>
          <span>size</span><b>{formatBytes(Number(m.sizeBytes))}</b>
          <span>created</span><b>{formatTime(m.createdUnixMicros)}</b>
          <span>producer</span><b>{m.producerRunId
            ? (producerJob ? <Link href={jobUrl(producerJob, { run: m.producerRunId, tab: 'output' })} className="mono">{m.producerRunId}</Link> : <Mono>{m.producerRunId}</Mono>)
            : 'given at submission'}</b>
          <span>bytes</span><b><a href={urls.bytes(digest)} download>download</a></b>
        </div>
      )}
      <div className="two-col">
        <div>{m && !m.payload && <ArtifactValue digest={digest} />}</div>
        <div><LineageView digest={digest} /></div>
      </div>
    </div>
  );
}
