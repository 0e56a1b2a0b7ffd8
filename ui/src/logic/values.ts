// Decoding of typed values (TypeDesc + Value JSON) into trees, tensors and tables.
import type { Column, DType, TableValue, TensorValue, TypeDesc, Value } from '../api/types';
import { formatNumber } from './format';

// ---- bytes --------------------------------------------------------------------------------

export function base64ToBytes(b64: string): Uint8Array {
  if (!b64) return new Uint8Array(0);
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export const DTYPE_SIZE: Record<DType, number> = {
  DTYPE_UNSPECIFIED: 0, DTYPE_BOOL: 1, DTYPE_INT8: 1, DTYPE_INT16: 2, DTYPE_INT32: 4,
  DTYPE_INT64: 8, DTYPE_UINT8: 1, DTYPE_UINT16: 2, DTYPE_UINT32: 4, DTYPE_UINT64: 8,
  DTYPE_FLOAT32: 4, DTYPE_FLOAT64: 8, DTYPE_STRING: 0,
};

// Little-endian elements of `dtype` as numbers (64-bit integers lose precision past 2^53).
// Throws naming the dtype when the byte count is not a multiple of its size.
export function decodeElements(bytes: Uint8Array, dtype: DType): Float64Array {
  const size = DTYPE_SIZE[dtype];
  if (!size) throw new Error(`dtype: expected a fixed-width dtype, got ${dtype}`);
  if (bytes.length % size !== 0) {
    throw new Error(`data: expected a multiple of ${size} bytes for ${dtype}, got ${bytes.length}`);
  }
  const n = bytes.length / size;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    switch (dtype) {
      case 'DTYPE_BOOL': out[i] = view.getUint8(o) ? 1 : 0; break;
      case 'DTYPE_INT8': out[i] = view.getInt8(o); break;
      case 'DTYPE_INT16': out[i] = view.getInt16(o, true); break;
      case 'DTYPE_INT32': out[i] = view.getInt32(o, true); break;
      case 'DTYPE_INT64': out[i] = Number(view.getBigInt64(o, true)); break;
      case 'DTYPE_UINT8': out[i] = view.getUint8(o); break;
      case 'DTYPE_UINT16': out[i] = view.getUint16(o, true); break;
      case 'DTYPE_UINT32': out[i] = view.getUint32(o, true); break;
      case 'DTYPE_UINT64': out[i] = Number(view.getBigUint64(o, true)); break;
      case 'DTYPE_FLOAT32': out[i] = view.getFloat32(o, true); break;
      case 'DTYPE_FLOAT64': out[i] = view.getFloat64(o, true); break;
      default: break;
    }
  }
  return out;
}

// ---- statistics ---------------------------------------------------------------------------

export interface Stats { count: number; min: number; max: number; mean: number; nan: number }

// Min, max and mean over the finite-or-infinite elements; NaNs are counted apart.
export function stats(xs: ArrayLike<number>): Stats {
  let min = Infinity, max = -Infinity, sum = 0, count = 0, nan = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (Number.isNaN(x)) { nan++; continue; }
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
    count++;
  }
  return { count, min: count ? min : NaN, max: count ? max : NaN, mean: count ? sum / count : NaN, nan };
}

export interface Histogram { edges: number[]; counts: number[] }

// `bins` equal-width bins over [min, max] of the non-NaN, finite elements; the last bin is closed.
export function histogramOf(xs: ArrayLike<number>, bins = 20): Histogram {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (!Number.isFinite(x)) continue;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (min > max) return { edges: [], counts: [] };
  if (min === max) return { edges: [min, max], counts: [countFinite(xs)] };
  const width = (max - min) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (!Number.isFinite(x)) continue;
    counts[Math.min(bins - 1, Math.floor((x - min) / width))]++;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => min + i * width);
  edges[bins] = max;
  return { edges, counts };
}

function countFinite(xs: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < xs.length; i++) if (Number.isFinite(xs[i])) n++;
  return n;
}

// ---- tensors ------------------------------------------------------------------------------

export interface DecodedTensor { dtype: DType; shape: number[]; values: Float64Array }

// `bytes`: the payload when the tensor has a dataRef (fetched from /bytes), else its inline data.
export function decodeTensor(t: TensorValue, bytes?: Uint8Array): DecodedTensor {
  const shape = (t.shape ?? []).map(Number);
  const data = bytes ?? base64ToBytes(t.data);
  const values = decodeElements(data, t.dtype);
  const expected = shape.reduce((a, b) => a * b, 1);
  if (values.length !== expected) {
    throw new Error(`tensor: expected ${expected} elements for shape [${shape.join(', ')}], got ${values.length}`);
  }
  return { dtype: t.dtype, shape, values };
}

// ---- tables -------------------------------------------------------------------------------

export interface DecodedColumn {
  name: string;
  dtype: DType;
  numbers?: Float64Array;   // fixed-width dtypes
  strings?: string[];       // DTYPE_STRING
}

export function decodeColumn(c: Column, bytes?: Uint8Array): DecodedColumn {
  if (c.dtype === 'DTYPE_STRING') return { name: c.name, dtype: c.dtype, strings: c.strings ?? [] };
  return { name: c.name, dtype: c.dtype, numbers: decodeElements(bytes ?? base64ToBytes(c.data), c.dtype) };
}

export type ColumnStats =
  | { kind: 'numeric'; min: number; max: number; mean: number; count: number }
  | { kind: 'string'; distinct: number; count: number };

export function columnStats(c: DecodedColumn): ColumnStats {
  if (c.strings) return { kind: 'string', distinct: new Set(c.strings).size, count: c.strings.length };
  const s = stats(c.numbers ?? new Float64Array(0));
  return { kind: 'numeric', min: s.min, max: s.max, mean: s.mean, count: s.count };
}

export function tableRows(t: TableValue): number { return Number(t.numRows) || 0; }

export function cellText(c: DecodedColumn, row: number): string {
  if (c.strings) return c.strings[row] ?? '';
  const v = c.numbers?.[row];
  if (v === undefined) return '';
  if (c.dtype === 'DTYPE_BOOL') return v ? 'true' : 'false';
  return formatNumber(v);
}

// ---- value trees --------------------------------------------------------------------------

// One node of a value tree as the UI shows it. `path` is unique in its tree.
export interface ValueNode {
  path: string;
  label: string;          // field name, index or map key
  typeName: string;       // e.g. "list<float64>"
  summary: string;        // one line: the scalar, or "3 elements"
  children?: ValueNode[];
  special?: { kind: 'TENSOR' | 'TABLE' | 'IMAGE' | 'PLOT' | 'BLOB'; value: Value };
}

export function typeName(t: TypeDesc | undefined): string {
  if (!t) return '?';
  const p = (i: number) => typeName(t.params?.[i]);
  switch (t.kind) {
    case 'BOOL': return 'bool';
    case 'INT': return `int${t.bits || 64}`;
    case 'UINT': return `uint${t.bits || 64}`;
    case 'FLOAT': return `float${t.bits || 64}`;
    case 'STRING': return 'string';
    case 'BYTES': return 'bytes';
    case 'OPTIONAL': return `optional<${p(0)}>`;
    case 'LIST': return `list<${p(0)}>`;
    case 'MAP': return `map<${p(0)}, ${p(1)}>`;
    case 'TUPLE': return `tuple<${(t.params ?? []).map(typeName).join(', ')}>`;
    case 'STRUCT': return t.name || 'struct';
    case 'ENUM': return t.name || 'enum';
    default: return t.kind.toLowerCase();
  }
}

// A scalar Value in one line (no type needed); '' when the value is not a scalar.
export function scalarText(v: Value | undefined): string {
  if (!v) return '';
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.uintValue !== undefined) return String(v.uintValue);
  if (v.floatValue !== undefined) return formatNumber(Number(v.floatValue));
  if (v.stringValue !== undefined) return JSON.stringify(v.stringValue);
  if (v.enumValue !== undefined) return v.enumValue;
  if (v.noneValue !== undefined) return 'None';
  if (v.bytesValue !== undefined) return `${base64ToBytes(v.bytesValue).length} bytes`;
  return '';
}

// A literal's number when it is one (for sorting and comparing sweep inputs).
export function scalarNumber(v: Value | undefined): number | undefined {
  if (!v) return undefined;
  if (v.floatValue !== undefined) return Number(v.floatValue);
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.uintValue !== undefined) return Number(v.uintValue);
  if (v.boolValue !== undefined) return v.boolValue ? 1 : 0;
  return undefined;
}

function plural(n: number, word: string): string { return `${n} ${word}${n === 1 ? '' : 's'}`; }

// The tree of `value` read with `type`. Values that disagree with their type are shown as
// they are ("? ..."), never thrown on: the view must render whatever the API returns.
export function valueTree(type: TypeDesc | undefined, value: Value | undefined, label = 'value',
  path = '$'): ValueNode {
  const node: ValueNode = { path, label, typeName: typeName(type), summary: '' };
  const v = value ?? {};
  const kind = type?.kind ?? 'KIND_UNSPECIFIED';
  const items = v.listValue?.items ?? [];
  switch (kind) {
    case 'OPTIONAL':
      if (v.noneValue !== undefined) { node.summary = 'None'; return node; }
      return { ...valueTree(type?.params?.[0], v, label, path), typeName: node.typeName };
    case 'LIST':
      node.summary = plural(items.length, 'element');
      node.children = items.map((it, i) => valueTree(type?.params?.[0], it, `[${i}]`, `${path}/${i}`));
      return node;
    case 'TUPLE':
      node.summary = plural(items.length, 'element');
      node.children = items.map((it, i) => valueTree(type?.params?.[i], it, `[${i}]`, `${path}/${i}`));
      return node;
    case 'STRUCT': {
      const fields = type?.fields ?? [];
      node.summary = plural(items.length, 'field');
      node.children = items.map((it, i) =>
        valueTree(fields[i]?.type, it, fields[i]?.name ?? `[${i}]`, `${path}/${i}`));
      return node;
    }
    case 'MAP': {
      const entries = v.mapValue?.entries ?? [];
      node.summary = plural(entries.length, 'entry').replace('entrys', 'entries');
      node.children = entries.map((e, i) => {
        const keyText = scalarText(e.key) || `#${i}`;
        return valueTree(type?.params?.[1], e.value, keyText, `${path}/${i}`);
      });
      return node;
    }
    case 'TENSOR': {
      const t = v.tensorValue;
      node.summary = t ? `${t.dtype.replace('DTYPE_', '').toLowerCase()} [${(t.shape ?? []).join(', ')}]` : '?';
      node.special = { kind: 'TENSOR', value: v };
      return node;
    }
    case 'TABLE': {
      const t = v.tableValue;
      node.summary = t ? `${tableRows(t)} rows × ${t.columns?.length ?? 0} columns` : '?';
      node.special = { kind: 'TABLE', value: v };
      return node;
    }
    case 'IMAGE': {
      const im = v.imageValue;
      node.summary = im ? `${im.format} ${im.width}×${im.height}` : '?';
      node.special = { kind: 'IMAGE', value: v };
      return node;
    }
    case 'PLOT':
      node.summary = 'Vega-Lite plot';
      node.special = { kind: 'PLOT', value: v };
      return node;
    case 'BLOB': {
      const b = v.blobValue;
      const size = b?.dataRef ? Number(b.dataRef.size) : base64ToBytes(b?.data ?? '').length;
      node.summary = `${size} bytes`;
      node.special = { kind: 'BLOB', value: v };
      return node;
    }
    default:
      node.summary = scalarText(v) || (items.length ? plural(items.length, 'element') : '?');
      if (!scalarText(v) && items.length) {
        node.children = items.map((it, i) => valueTree(undefined, it, `[${i}]`, `${path}/${i}`));
      }
      return node;
  }
}

// Every path of `node` that has children: what "expand all" opens, at every depth.
export function expandablePaths(node: ValueNode, out: string[] = []): string[] {
  if (node.children && node.children.length) {
    out.push(node.path);
    for (const c of node.children) expandablePaths(c, out);
  }
  return out;
}
