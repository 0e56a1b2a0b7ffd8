import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Run } from '../src/api/types';
import { layoutTimeline } from '../src/logic/timeline';

function run(id: string, worker: string, start: number, end: number, builtin = false): Run {
  return { id, parentId: '', jobId: 'j', function: 'F', version: '', nodeId: '', label: '', builtin, nested: false,
    state: end ? 'SUCCEEDED' : 'RUNNING', attempt: 1, inputs: [], outputDigest: '', error: '', createdUnixMicros: '0',
    startedUnixMicros: String(start), endedUnixMicros: String(end), queuedReason: '', workerId: worker, attempts: [] };
}

test('overlapping runs of a worker stack into lanes; a free lane is reused', () => {
  const l = layoutTimeline([run('a', 'w1', 10, 20), run('b', 'w1', 15, 30), run('c', 'w1', 20, 25), run('d', 'w2', 5, 8)], 100);
  assert.deepEqual(l.rows.map((r) => [r.worker, r.lanes]), [['w1', 2], ['w2', 1]]);
  const lanes = Object.fromEntries(l.rows[0].bars.map((b) => [b.run.id, b.lane]));
  assert.deepEqual(lanes, { a: 0, b: 1, c: 0 });
  assert.equal(l.start, 5);
  assert.equal(l.end, 30);
});

test('a running run ends now and is open; unstarted and builtin runs are left out', () => {
  const l = layoutTimeline([run('a', 'w1', 10, 0), run('b', 'w1', 0, 0), run('g', '', 12, 13, true)], 50);
  assert.equal(l.rows.length, 1);
  assert.deepEqual(l.rows[0].bars.map((b) => [b.run.id, b.end, b.open]), [['a', 50, true]]);
  assert.deepEqual(layoutTimeline([], 1), { rows: [], start: 0, end: 0 });
});
