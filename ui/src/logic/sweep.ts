// Sweep comparison: a nested run's children of one function, their literal inputs against the
// last value of each metric series, and which row is best. Pure.
import type { MetricPoint, Run, RunGroup, TypeDesc, Value } from '../api/types';
import { scalarNumber, scalarText } from './values';

export const SWEEP_MIN_CHILDREN = 2;

// The functions a sweep under `parentRunId` may be of: its non-builtin child groups of at least
// SWEEP_MIN_CHILDREN runs, the largest first and, among equals, the later-created first (a
// pipeline loads its data before it trains on it).
export function sweepCandidates(groups: readonly RunGroup[], parentRunId: string): string[] {
  return groups
    .map((g, order) => ({ g, order }))
    .filter(({ g }) => g.parentId === parentRunId && !g.builtin && Number(g.count) >= SWEEP_MIN_CHILDREN)
    .sort((a, b) => Number(b.g.count) - Number(a.g.count) || b.order - a.order)
    .map(({ g }) => g.function);
}

// The sweep's function shown first ('' when the run has none).
export function sweepFunction(groups: readonly RunGroup[], parentRunId: string): string {
  return sweepCandidates(groups, parentRunId)[0] ?? '';
}

export interface SweepRow {
  runId: string;
  inputs: Record<string, { text: string; number?: number }>;
  finals: Record<string, number>;  // metric name -> value at the series' last step
}

// The last point (highest step, then latest time) of each series by name.
export function finalMetrics(points: readonly MetricPoint[]): Record<string, number> {
  const last = new Map<string, MetricPoint>();
  for (const p of points) {
    const cur = last.get(p.name);
    if (!cur || Number(p.step) > Number(cur.step) ||
        (Number(p.step) === Number(cur.step) && Number(p.unixMicros) >= Number(cur.unixMicros))) {
      last.set(p.name, p);
    }
  }
  const out: Record<string, number> = {};
  for (const [name, p] of last) out[name] = Number(p.value);
  return out;
}

// Composite literals wider than this stay one cell ("N elements") instead of many columns.
const MAX_FLAT_ITEMS = 16;

// The element types of a composite type, by position (STRUCT fields, TUPLE and LIST params).
function elementType(type: TypeDesc | undefined, i: number): TypeDesc | undefined {
  if (!type) return undefined;
  if (type.kind === 'OPTIONAL') return elementType(type.params?.[0], i);
  if (type.kind === 'STRUCT') return type.fields?.[i]?.type;
  if (type.kind === 'TUPLE') return type.params?.[i];
  if (type.kind === 'LIST') return type.params?.[0];
  return undefined;
}

function elementName(type: TypeDesc | undefined, i: number): string {
  const t = type?.kind === 'OPTIONAL' ? type.params?.[0] : type;
  return t?.kind === 'STRUCT' && t.fields?.[i]?.name ? t.fields[i].name : String(i);
}

// One column per scalar inside a literal: a struct (or tuple, or short list) of settings is
// what a sweep varies, so `params.hidden` and `params.learning_rate` become columns of their own,
// named from the parameter's type when the signature is known ("params.2" otherwise).
function flattenLiteral(name: string, v: Value, type: TypeDesc | undefined, out: SweepRow['inputs']) {
  const items = v.listValue?.items;
  if (items && items.length > 0 && items.length <= MAX_FLAT_ITEMS) {
    items.forEach((item, i) => flattenLiteral(`${name}.${elementName(type, i)}`, item, elementType(type, i), out));
    return;
  }
  if (items) {
    out[name] = { text: `${items.length} elements` };
    return;
  }
  out[name] = { text: scalarText(v) || JSON.stringify(v), number: scalarNumber(v) };
}

// A sweep child's row: its literal inputs (flattened, see above; `paramTypes` by parameter name
// from the function's signature when known) against its final metrics.
export function sweepRow(run: Pick<Run, 'id' | 'inputs'>, points: readonly MetricPoint[],
  paramTypes: Record<string, TypeDesc | undefined> = {}): SweepRow {
  const inputs: SweepRow['inputs'] = {};
  for (const inp of run.inputs ?? []) {
    const lit: Value | undefined = inp.literal;
    if (lit) flattenLiteral(inp.name, lit, paramTypes[inp.name], inputs);
    else inputs[inp.name] = { text: inp.digest ? `${inp.digest.slice(0, 10)}…` : '' };
  }
  return { runId: run.id, inputs, finals: finalMetrics(points) };
}

// Index of the row with the max (or min) final value of `metric`; -1 when no row has it.
// Ties keep the first row.
export function bestRow(rows: readonly SweepRow[], metric: string, mode: 'max' | 'min'): number {
  let best = -1;
  rows.forEach((r, i) => {
    const v = r.finals[metric];
    if (v === undefined || Number.isNaN(v)) return;
    if (best < 0) { best = i; return; }
    const b = rows[best].finals[metric];
    if (mode === 'max' ? v > b : v < b) best = i;
  });
  return best;
}

export type SortKey = { column: string; kind: 'input' | 'metric'; desc: boolean };

export function sortRows(rows: readonly SweepRow[], key: SortKey | null): SweepRow[] {
  const out = [...rows];
  if (!key) return out;
  const val = (r: SweepRow): number | string => {
    if (key.kind === 'metric') return r.finals[key.column] ?? NaN;
    const inp = r.inputs[key.column];
    return inp?.number ?? inp?.text ?? '';
  };
  out.sort((a, b) => {
    const va = val(a), vb = val(b);
    let c: number;
    if (typeof va === 'number' && typeof vb === 'number') {
      c = Number.isNaN(va) ? 1 : Number.isNaN(vb) ? -1 : va - vb;
    } else {
      c = String(va).localeCompare(String(vb));
    }
    return key.desc ? -c : c;
  });
  return out;
}

// Metric names across rows, sorted.
export function metricNames(rows: readonly SweepRow[]): string[] {
  const s = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.finals)) s.add(k);
  return [...s].sort();
}

export function inputNames(rows: readonly SweepRow[]): string[] {
  const s: string[] = [];
  for (const r of rows) for (const k of Object.keys(r.inputs)) if (!s.includes(k)) s.push(k);
  return s;
}

// Series of one metric per run aligned on the union of steps (uPlot's data shape):
// [steps, ...values-per-run] with null where a run has no point at that step.
export function alignSeries(perRun: readonly MetricPoint[][], metric: string): (number | null)[][] {
  const steps = new Set<number>();
  const maps = perRun.map((pts) => {
    const m = new Map<number, number>();
    for (const p of pts) {
      if (p.name !== metric) continue;
      const s = Number(p.step);
      steps.add(s);
      m.set(s, Number(p.value));
    }
    return m;
  });
  const xs = [...steps].sort((a, b) => a - b);
  return [xs, ...maps.map((m) => xs.map((x) => (m.has(x) ? m.get(x)! : null)))];
}
