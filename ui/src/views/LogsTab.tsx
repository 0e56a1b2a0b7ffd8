// A run's log, tailed live from /api/v1/runs/:id/logs/events: virtualised, searchable (matches
// highlighted), jump to start or end, follows the end while scrolled to the bottom.
import { useVirtualizer } from '@tanstack/react-virtual';
import React, { useEffect, useMemo, useRef, useState } from 'react';
import { urls } from '../api/client';
import type { HttpError, LogEntry, LogLines } from '../api/types';
import { formatTime } from '../logic/format';
import { ErrorBanner } from './common';

const LINE_H = 18;

export function LogsTab({ runId }: { runId: string }) {
  const [lines, setLines] = useState<LogEntry[]>([]);
  const [ended, setEnded] = useState(false);
  const [error, setError] = useState('');
  const [query, setQuery] = useState('');
  const [matchIdx, setMatchIdx] = useState(0);
  const buf = useRef<LogEntry[]>([]);
  const follow = useRef(true);
  const parentRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    buf.current = [];
    setLines([]);
    setEnded(false);
    const es = new EventSource(urls.logEvents(runId));
    let frame = 0;
    const flush = () => { frame = 0; setLines([...buf.current]); };
    es.addEventListener('logs', ((m: MessageEvent) => {
      const batch = JSON.parse(m.data) as LogLines;
      const first = Number(batch.firstIndex);
      // Resumed streams may repeat lines we hold: place them by index.
      batch.entries.forEach((e, i) => { buf.current[first + i] = e; });
      if (!frame) frame = requestAnimationFrame(flush);
    }) as EventListener);
    es.addEventListener('end', ((m: MessageEvent) => {
      es.close();
      try {
        const end = JSON.parse(m.data) as HttpError;
        if (end.code !== 'OK') setError(`log stream: ${end.message}`);
      } catch { /* fine */ }
      setEnded(true);
      flush();
    }) as EventListener);
    return () => { es.close(); if (frame) cancelAnimationFrame(frame); };
  }, [runId]);

  const matches = useMemo(() => {
    if (!query) return [];
    const q = query.toLowerCase();
    const out: number[] = [];
    lines.forEach((l, i) => { if (l && l.text.toLowerCase().includes(q)) out.push(i); });
    return out;
  }, [lines, query]);

  const v = useVirtualizer({ count: lines.length, getScrollElement: () => parentRef.current,
    estimateSize: () => LINE_H, overscan: 20 });

  useEffect(() => {
    if (follow.current && lines.length) v.scrollToIndex(lines.length - 1, { align: 'end' });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lines.length]);

  const jump = (i: number) => {
    follow.current = i >= lines.length - 1;
    v.scrollToIndex(i, { align: i === 0 ? 'start' : 'center' });
  };
  const goMatch = (d: number) => {
    if (!matches.length) return;
    const k = (matchIdx + d + matches.length) % matches.length;
    setMatchIdx(k);
    jump(matches[k]);
  };

  return (
    <div className="logs" data-testid="logs" data-lines={lines.length} data-ended={String(ended)}>
      <div className="logs-tools">
        <input placeholder="search" value={query} data-testid="logs-search"
          onChange={(e) => { setQuery(e.target.value); setMatchIdx(0); }}
          onKeyDown={(e) => { if (e.key === 'Enter') goMatch(e.shiftKey ? -1 : 1); }} />
        {query && <span className="muted small-text" data-testid="logs-matches">{matches.length} matches</span>}
        {query && <button className="small" onClick={() => goMatch(-1)}>↑</button>}
        {query && <button className="small" onClick={() => goMatch(1)}>↓</button>}
        <button className="small" data-testid="logs-start" onClick={() => jump(0)}>Start</button>
        <button className="small" data-testid="logs-end" onClick={() => { follow.current = true; jump(lines.length - 1); }}>End</button>
        <a className="small-text" href={urls.logsTxt(runId)} download data-testid="logs-download">download</a>
        <span className="muted small-text">{lines.length} lines{ended ? '' : ' · live'}</span>
      </div>
      <ErrorBanner message={error} />
      <div className="logs-body" ref={parentRef} data-testid="logs-body" onScroll={(e) => {
        const el = e.currentTarget;
        follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - LINE_H * 1.5;
      }}>
        <div style={{ height: v.getTotalSize(), position: 'relative' }}>
          {v.getVirtualItems().map((item) => {
            const l = lines[item.index];
            return (
              <div key={item.index} className={`log-line ${matches[matchIdx] === item.index ? 'current' : ''}`}
                data-testid="log-line" data-index={item.index}
                style={{ position: 'absolute', top: 0, transform: `translateY(${item.start}px)`, height: LINE_H }}>
                <span className="log-no">{item.index + 1}</span>
                <span className="log-time" title={l ? formatTime(l.unixMicros) : ''}>{l ? formatTime(l.unixMicros).slice(11) : ''}</span>
                <span className="log-text">{l ? highlight(l.text, query) : ''}</span>
              </div>
            );
          })}
        </div>
        {lines.length === 0 && <div className="muted pad">{ended ? 'No log lines.' : 'Waiting for log lines…'}</div>}
      </div>
    </div>
  );
}

function highlight(text: string, q: string): React.ReactNode {
  if (!q) return text;
  const out: React.ReactNode[] = [];
  const lower = text.toLowerCase(), ql = q.toLowerCase();
  let i = 0;
  for (let j = lower.indexOf(ql); j >= 0; j = lower.indexOf(ql, i)) {
    out.push(text.slice(i, j), <mark key={j}>{text.slice(j, j + q.length)}</mark>);
    i = j + q.length;
  }
  out.push(text.slice(i));
  return out;
}
