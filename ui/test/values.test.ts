import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TypeDesc, Value } from '../src/api/types';
import {
  base64ToBytes, cellText, columnStats, decodeColumn, decodeElements, decodeTensor, expandablePaths,
  histogramOf, scalarText, stats, typeName, valueTree,
} from '../src/logic/values';

const b64 = (bytes: number[] | Uint8Array) => Buffer.from(bytes as Uint8Array).toString('base64');
function le(dtype: 'f32' | 'f64' | 'i64' | 'i16' | 'u32', xs: number[]): string {
  const size = { f32: 4, f64: 8, i64: 8, i16: 2, u32: 4 }[dtype];
  const buf = Buffer.alloc(xs.length * size);
  xs.forEach((x, i) => {
    if (dtype === 'f32') buf.writeFloatLE(x, i * 4);
    else if (dtype === 'f64') buf.writeDoubleLE(x, i * 8);
    else if (dtype === 'i64') buf.writeBigInt64LE(BigInt(x), i * 8);
    else if (dtype === 'i16') buf.writeInt16LE(x, i * 2);
    else buf.writeUInt32LE(x, i * 4);
  });
  return buf.toString('base64');
}
const T = (kind: TypeDesc['kind'], extra: Partial<TypeDesc> = {}): TypeDesc =>
  ({ kind, bits: 0, name: '', params: [], fields: [], enumerators: [], ...extra });

test('base64 decodes to the bytes', () => {
  assert.deepEqual([...base64ToBytes(b64([0, 1, 255]))], [0, 1, 255]);
  assert.equal(base64ToBytes('').length, 0);
});

test('little-endian elements decode by dtype, negative and 64-bit included', () => {
  assert.deepEqual([...decodeElements(base64ToBytes(le('i64', [-3, 2 ** 40])), 'DTYPE_INT64')], [-3, 2 ** 40]);
  assert.deepEqual([...decodeElements(base64ToBytes(le('i16', [-2, 300])), 'DTYPE_INT16')], [-2, 300]);
  assert.deepEqual([...decodeElements(base64ToBytes(le('u32', [4294967295])), 'DTYPE_UINT32')], [4294967295]);
  assert.deepEqual([...decodeElements(base64ToBytes(le('f32', [1.5, -0.25])), 'DTYPE_FLOAT32')], [1.5, -0.25]);
  // A big-endian reading of 1.5f would not be 1.5.
  assert.throws(() => decodeElements(new Uint8Array(3), 'DTYPE_FLOAT32'), /multiple of 4 bytes for DTYPE_FLOAT32/);
});

test('tensor: shape checked, stats and histogram over the elements', () => {
  const t = decodeTensor({ dtype: 'DTYPE_FLOAT32', shape: ['4', '4'], data: le('f32', Array.from({ length: 16 }, (_, i) => i)) });
  assert.deepEqual(t.shape, [4, 4]);
  const s = stats(t.values);
  assert.deepEqual([s.min, s.max, s.mean, s.count], [0, 15, 7.5, 16]);
  const h = histogramOf(t.values, 4);
  assert.deepEqual(h.counts, [4, 4, 4, 4]);
  assert.equal(h.edges[0], 0);
  assert.equal(h.edges[4], 15);
  assert.throws(() => decodeTensor({ dtype: 'DTYPE_FLOAT32', shape: ['3'], data: le('f32', [1, 2]) }), /expected 3 elements/);
});

test('stats count NaN apart; a constant histogram is one bin', () => {
  const s = stats([1, NaN, 3]);
  assert.deepEqual([s.min, s.max, s.mean, s.nan], [1, 3, 2, 1]);
  assert.deepEqual(histogramOf([2, 2, 2]).counts, [3]);
  assert.deepEqual(histogramOf([]).counts, []);
});

test('table columns: numeric min/max/mean, strings distinct', () => {
  const score = decodeColumn({ name: 'score', dtype: 'DTYPE_FLOAT64', data: le('f64', [0.5, 0.25, 1, 0.75]), strings: [] });
  assert.deepEqual(columnStats(score), { kind: 'numeric', min: 0.25, max: 1, mean: 0.625, count: 4 });
  const name = decodeColumn({ name: 'name', dtype: 'DTYPE_STRING', data: '', strings: ['a', 'b', 'a'] });
  assert.deepEqual(columnStats(name), { kind: 'string', distinct: 2, count: 3 });
  assert.equal(cellText(score, 2), '1');
  assert.equal(cellText(name, 1), 'b');
});

test('value tree: struct fields named, list/map/optional summarised, scalars inline', () => {
  const type = T('STRUCT', { name: 'Config', fields: [
    { name: 'lr', type: T('FLOAT', { bits: 64 }) },
    { name: 'layers', type: T('LIST', { params: [T('INT', { bits: 32 })] }) },
    { name: 'names', type: T('MAP', { params: [T('STRING'), T('OPTIONAL', { params: [T('INT', { bits: 64 })] })] }) },
  ] });
  const value: Value = { listValue: { items: [
    { floatValue: 0.1 },
    { listValue: { items: [{ intValue: '3' }, { intValue: '4' }] } },
    { mapValue: { entries: [{ key: { stringValue: 'a' }, value: { noneValue: {} } }, { key: { stringValue: 'b' }, value: { intValue: '7' } }] } },
  ] } };
  const tree = valueTree(type, value);
  assert.equal(tree.typeName, 'Config');
  assert.equal(tree.summary, '3 fields');
  const [lr, layers, names] = tree.children!;
  assert.deepEqual([lr.label, lr.summary], ['lr', '0.1']);
  assert.deepEqual([layers.summary, layers.typeName], ['2 elements', 'list<int32>']);
  assert.equal(names.summary, '2 entries');
  assert.deepEqual(names.children!.map((c) => [c.label, c.summary]), [['"a"', 'None'], ['"b"', '7']]);
  assert.equal(typeName(names.children![0] && type.fields[2].type), 'map<string, optional<int64>>');
});

test('expand all reaches every nested level', () => {
  const inner = T('LIST', { params: [T('LIST', { params: [T('INT', { bits: 64 })] })] });
  const v: Value = { listValue: { items: [{ listValue: { items: [{ listValue: { items: [{ intValue: '1' }] } }] } }] } };
  const tree = valueTree(T('LIST', { params: [inner] }), v);
  assert.deepEqual(expandablePaths(tree), ['$', '$/0', '$/0/0']);
});

test('special kinds are marked for their views', () => {
  const t = valueTree(T('IMAGE'), { imageValue: { format: 'PNG', width: 8, height: 8, data: '' } });
  assert.equal(t.special?.kind, 'IMAGE');
  assert.equal(t.summary, 'PNG 8×8');
  assert.equal(scalarText({ stringValue: 'x' }), '"x"');
  assert.equal(scalarText({ floatValue: 0.30000000000000004 }), '0.3');
});
