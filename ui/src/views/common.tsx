// Small shared pieces: state chips, progress bars, error banner, links, copy buttons.
import React, { useState } from 'react';
import { RUN_STATES } from '../api/types';
import { navigate } from '../router';
import { STATE_COLORS, stateLabel } from '../logic/state';

export function Link(props: { href: string; children: React.ReactNode; className?: string;
  testid?: string; title?: string }) {
  return (
    <a href={props.href} className={props.className} data-testid={props.testid} title={props.title}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.href);
      }}>{props.children}</a>
  );
}

export function StateChip({ state, testid }: { state: string; testid?: string }) {
  return (
    <span className="chip" data-testid={testid ?? 'state-chip'} data-state={state}
      style={{ background: STATE_COLORS[state] ?? '#999' }}>{stateLabel(state)}</span>
  );
}

// A bar split by run state (counts indexed by RunState).
export function StateBar({ counts, testid, height = 8 }: { counts: number[]; testid?: string; height?: number }) {
  const total = counts.reduce((a, b) => a + b, 0);
  return (
    <div className="statebar" data-testid={testid ?? 'state-bar'} data-total={total} style={{ height }}
      title={counts.map((n, i) => (n ? `${RUN_STATES[i]}: ${n}` : '')).filter(Boolean).join('\n')}>
      {total > 0 && counts.map((n, i) => (n > 0 ? (
        <div key={i} style={{ width: `${(100 * n) / total}%`, background: STATE_COLORS[RUN_STATES[i]] }} />
      ) : null))}
    </div>
  );
}

export function ErrorBanner({ message, onClose }: { message: string; onClose?: () => void }) {
  if (!message) return null;
  return (
    <div className="error-banner" role="alert" data-testid="error-banner">
      <span>{message}</span>
      {onClose && <button className="link" onClick={onClose} aria-label="dismiss">×</button>}
    </div>
  );
}

export function CopyButton({ text, label = 'copy', testid }: { text: string; label?: string; testid?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button className="small" data-testid={testid ?? 'copy-button'} data-copy={text} onClick={() => {
      const finish = () => { setDone(true); setTimeout(() => setDone(false), 1200); };
      if (navigator.clipboard?.writeText) navigator.clipboard.writeText(text).then(finish, finish);
      else finish();
    }}>{done ? 'copied' : label}</button>
  );
}

export function Mono({ children, title }: { children: React.ReactNode; title?: string }) {
  return <span className="mono" title={title}>{children}</span>;
}

export function Loading({ what }: { what: string }) {
  return <div className="muted pad">Loading {what}…</div>;
}

// The current time in micros, re-rendered every `ms` while `active`.
export function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now() * 1000);
  React.useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now() * 1000), ms);
    return () => clearInterval(t);
  }, [active, ms]);
  return active ? now : Date.now() * 1000;
}
