import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricPoint, Run, RunGroup, RunInput, TypeDesc } from '../src/api/types';
import { alignSeries, bestRow, finalMetrics, sortRows, sweepCandidates, sweepFunction, sweepRow } from '../src/logic/sweep';

const p = (name: string, value: number, step: number, t = step): MetricPoint =>
  ({ name, value, step: String(step), unixMicros: String(t) });
const lr = (x: number): RunInput => ({ name: 'learning_rate', digest: '', literal: { floatValue: x }, producerRunId: '' });

// The fixture's Train: loss 1 / (epoch (1 + 10 lr)), accuracy 0.9 - |lr - 0.3|.
function child(i: number) {
  const x = 0.1 * (i + 1);
  const pts = [1, 2, 3, 4, 5].map((e) => p('loss', 1 / (e * (1 + 10 * x)), e));
  pts.push(p('accuracy', 0.9 - Math.abs(x - 0.3), 5));
  return sweepRow({ id: `r${i}`, inputs: [lr(x), { name: 'epochs', digest: '', literal: { intValue: '5' }, producerRunId: '' }] }, pts);
}

test('final metric values are the last step of each series', () => {
  assert.deepEqual(finalMetrics([p('loss', 3, 1), p('loss', 1, 3), p('loss', 2, 2), p('acc', 0.5, 1, 9), p('acc', 0.7, 1, 10)]),
    { loss: 1, acc: 0.7 });
});

test('best row: max accuracy is learning_rate 0.3, min loss is 0.5; switching mode changes it', () => {
  const rows = [0, 1, 2, 3, 4].map(child);
  const best = bestRow(rows, 'accuracy', 'max');
  assert.equal(rows[best].inputs.learning_rate.number!.toFixed(2), '0.30');
  assert.equal(rows[best].inputs.learning_rate.text, '0.3');
  assert.equal(rows[bestRow(rows, 'loss', 'min')].runId, 'r4');
  assert.ok(['r0', 'r4'].includes(rows[bestRow(rows, 'accuracy', 'min')].runId));
  const tied = [sweepRow({ id: 'a', inputs: [] }, [p('m', 1, 1)]), sweepRow({ id: 'b', inputs: [] }, [p('m', 1, 1)])];
  assert.equal(tied[bestRow(tied, 'm', 'max')].runId, 'a');  // ties keep the first
  assert.equal(bestRow(rows, 'nope', 'max'), -1);
});

test('rows sort by input number or metric, both directions', () => {
  const rows = [2, 0, 4, 1, 3].map(child);
  assert.deepEqual(sortRows(rows, { column: 'learning_rate', kind: 'input', desc: false }).map((r) => r.runId), ['r0', 'r1', 'r2', 'r3', 'r4']);
  assert.deepEqual(sortRows(rows, { column: 'loss', kind: 'metric', desc: true }).map((r) => r.runId), ['r0', 'r1', 'r2', 'r3', 'r4']);
  assert.deepEqual(sortRows(rows, null).map((r) => r.runId), ['r2', 'r0', 'r4', 'r1', 'r3']);
});

test('series align on the union of steps with gaps as null', () => {
  assert.deepEqual(alignSeries([[p('m', 1, 1), p('m', 2, 2)], [p('m', 5, 2), p('other', 9, 7)]], 'm'),
    [[1, 2], [1, 2], [null, 5]]);
});

test('struct literals become one column per field, named from the signature', () => {
  const params = { listValue: { items: [{ stringValue: 'mlp' }, { intValue: '64' }, { floatValue: 0.5 }] } };
  const run = { id: 'r1', inputs: [{ name: 'params', digest: '', literal: params }] } as unknown as Run;
  const type = { kind: 'STRUCT', fields: [{ name: 'model' }, { name: 'hidden' }, { name: 'lr' }] } as unknown as TypeDesc;
  const named = sweepRow(run, [], { params: type }).inputs;
  assert.deepEqual(Object.keys(named), ['params.model', 'params.hidden', 'params.lr']);
  assert.equal(named['params.hidden'].number, 64);
  assert.equal(named['params.model'].text, '"mlp"');
  // Without the signature: by position.
  assert.deepEqual(Object.keys(sweepRow(run, []).inputs), ['params.0', 'params.1', 'params.2']);
});

test('the sweep function is the largest non-builtin child group', () => {
  const g = (parentId: string, fn: string, count: number, builtin = false) =>
    ({ parentId, function: fn, count: String(count), builtin } as RunGroup);
  assert.equal(sweepFunction([g('root', 'Train', 5), g('root', 'sematic.gather', 9, true), g('root', 'Best', 1), g('x', 'Y', 50)], 'root'), 'Train');
  assert.equal(sweepFunction([g('root', 'Best', 1)], 'root'), '');
  // Equal groups: the later one (data loading comes before training).
  assert.deepEqual(sweepCandidates([g('root', 'Load', 2), g('root', 'Train', 2)], 'root'), ['Train', 'Load']);
});
