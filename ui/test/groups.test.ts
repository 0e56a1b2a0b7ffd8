import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Run, RunGroup, RunState } from '../src/api/types';
import { GroupTracker } from '../src/logic/groups';

const ev = (id: string, state: RunState, fn = 'Noop'): Run => ({ id, parentId: 'root', function: fn, state, builtin: false,
  nested: false, createdUnixMicros: '1' } as Run);
const hist = (t: GroupTracker, fn = 'Noop') => t.list().find((g) => g.function === fn)!.runsByState.map(Number);
const snap = (counts: Record<number, number>): RunGroup => {
  const h = new Array(10).fill('0');
  let total = 0;
  for (const [i, n] of Object.entries(counts)) { h[Number(i)] = String(n); total += n; }
  return { parentId: 'root', function: 'Noop', count: String(total), runsByState: h } as RunGroup;
};

test('new runs add to their group; known runs move exactly', () => {
  const t = new GroupTracker([]);
  t.apply(ev('a', 'CREATED'));
  t.apply(ev('b', 'CREATED'));
  assert.equal(t.structureChanged, true);
  t.apply(ev('a', 'QUEUED'));
  t.apply(ev('a', 'RUNNING'));
  t.apply(ev('a', 'SUCCEEDED'));
  const h = hist(t);
  assert.deepEqual([h[1], h[2], h[4], h[6]], [1, 0, 0, 1]);
  assert.equal(t.list()[0].count, '2');
  assert.equal(t.needsResync, false);
});

test('a run first seen mid-life moves from the nearest earlier state and asks for a resync', () => {
  const t = new GroupTracker([snap({ 2: 3, 4: 1 })]);  // 3 QUEUED, 1 RUNNING
  t.apply(ev('x', 'SUCCEEDED'));
  let h = hist(t);
  assert.deepEqual([h[2], h[4], h[6]], [3, 0, 1]);
  assert.equal(t.needsResync, true);
  t.apply(ev('y', 'RUNNING'));
  h = hist(t);
  assert.deepEqual([h[2], h[4]], [2, 1]);
  t.reset([snap({ 6: 4 })]);
  assert.equal(t.needsResync, false);
  assert.deepEqual(hist(t)[6], 4);
  // States seen stay known across the resync.
  t.apply(ev('y', 'SUCCEEDED'));
  assert.equal(hist(t)[4], 0);
});
