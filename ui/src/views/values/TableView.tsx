// A table: a virtualised grid (rows rendered only when visible) with per-column statistics.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef, useState } from 'react';
import { api, errorMessage } from '../../api/client';
import type { TableValue } from '../../api/types';
import { formatNumber } from '../../logic/format';
import { cellText, columnStats, decodeColumn, tableRows, type DecodedColumn } from '../../logic/values';
import { ErrorBanner } from '../common';

const ROW_H = 24;
const COL_W = 140;

export function TableView({ table }: { table: TableValue }) {
  const [cols, setCols] = useState<DecodedColumn[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const out: DecodedColumn[] = [];
        for (const c of table.columns ?? []) {
          const bytes = c.dataRef ? await api.artifactBytes(c.dataRef.digest) : undefined;
          out.push(decodeColumn(c, bytes));
        }
        if (live) setCols(out);
      } catch (e) {
        if (live) setError(errorMessage(e));
      }
    })();
    return () => { live = false; };
  }, [table]);
  const n = tableRows(table);
  const parentRef = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: cols ? n : 0, getScrollElement: () => parentRef.current,
    estimateSize: () => ROW_H, overscan: 10 });
  const colStats = useMemo(() => (cols ?? []).map(columnStats), [cols]);
  const width = 56 + (cols?.length ?? 0) * COL_W;
  return (
    <div className="table-view" data-testid="table-view" data-rows={n} data-columns={table.columns?.length ?? 0}>
      <div className="muted small-text">{n} rows × {table.columns?.length ?? 0} columns</div>
      <ErrorBanner message={error} />
      {cols && (
        <div className="vgrid" ref={parentRef} style={{ maxHeight: 360 }}>
          <div style={{ width, position: 'sticky', top: 0, zIndex: 1 }} className="vgrid-head">
            <div className="vgrid-row">
              <div className="vgrid-cell idx">#</div>
              {cols.map((c, i) => (
                <div key={c.name} className="vgrid-cell head" data-testid="table-column" data-column={c.name} style={{ width: COL_W }}>
                  <div><b>{c.name}</b> <span className="muted small-text">{c.dtype.replace('DTYPE_', '').toLowerCase()}</span></div>
                  <ColumnStatsLine s={colStats[i]} name={c.name} />
                </div>
              ))}
            </div>
          </div>
          <div style={{ height: rows.getTotalSize(), width, position: 'relative' }}>
            {rows.getVirtualItems().map((vr) => (
              <div key={vr.index} className="vgrid-row" data-testid="table-row" data-row={vr.index}
                style={{ position: 'absolute', top: 0, transform: `translateY(${vr.start}px)`, height: ROW_H }}>
                <div className="vgrid-cell idx">{vr.index}</div>
                {cols.map((c) => <div key={c.name} className="vgrid-cell mono" style={{ width: COL_W }}>{cellText(c, vr.index)}</div>)}
              </div>
            ))}
          </div>
        </div>
      )}
    </div>
  );
}

function ColumnStatsLine({ s, name }: { s: ReturnType<typeof columnStats> | undefined; name: string }) {
  if (!s) return null;
  if (s.kind === 'string') {
    return <div className="muted small-text" data-testid="column-stats" data-column={name} data-distinct={s.distinct}>{s.distinct} distinct</div>;
  }
  return (
    <div className="muted small-text" data-testid="column-stats" data-column={name} data-min={s.min} data-max={s.max} data-mean={s.mean}>
      min {formatNumber(s.min)} · max {formatNumber(s.max)} · mean {formatNumber(s.mean)}
    </div>
  );
}
