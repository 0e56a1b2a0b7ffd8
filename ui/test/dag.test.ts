import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Run, RunGroup, RunInput, RunState } from '../src/api/types';
import { buildGraph, groupKey, layoutGraph, structureKey, withCurrentStates } from '../src/logic/dag';

function run(id: string, parentId: string, fn: string, state: RunState = 'SUCCEEDED', builtin = false): Run {
  return { id, parentId, jobId: 'j1', function: fn, version: '1', nodeId: '', label: '', builtin, nested: false,
    state, attempt: 1, inputs: [], outputDigest: '', error: '', createdUnixMicros: '1', startedUnixMicros: '0',
    endedUnixMicros: '0', queuedReason: '', workerId: '', attempts: [] };
}
function group(parentId: string, fn: string, count: number, opts: Partial<RunGroup> = {}): RunGroup {
  const h = new Array(10).fill('0');
  h[6] = String(count);
  return { parentId, function: fn, count: String(count), runsByState: h, firstRunId: '', firstCreatedUnixMicros: '0',
    firstStartedUnixMicros: '0', lastEndedUnixMicros: '0', builtin: false, nested: false, ...opts };
}
const dep = (name: string, producer: string): RunInput => ({ name, digest: 'd', producerRunId: producer });

// FanOut(n): root -> n Noops -> gather (builtin) -> Count.
function fanout(n: number, loadedNoops: number) {
  const runs = new Map<string, Run>();
  const inputs = new Map<string, RunInput[]>();
  runs.set('root', run('root', '', 'FanOut', 'WAITING'));
  for (let i = 0; i < loadedNoops; i++) runs.set(`n${i}`, run(`n${i}`, 'root', 'Noop'));
  runs.set('g', run('g', 'root', 'sematic.gather', 'SUCCEEDED', true));
  runs.set('c', run('c', 'root', 'Count', 'RUNNING'));
  inputs.set('g', Array.from({ length: n }, (_, i) => dep(`[${i}]`, `n${i}`)));
  inputs.set('c', [dep('xs', 'g')]);
  const groups = [group('', 'FanOut', 1), group('root', 'Noop', n), group('root', 'sematic.gather', 1, { builtin: true }),
    group('root', 'Count', 1)];
  return { runs, inputs, groups };
}

test('a group over the threshold is one node with its count and histogram', () => {
  const f = fanout(10000, 50);
  const g = buildGraph({ ...f, expandedGroups: new Set(), collapsed: new Set() });
  const groups = g.nodes.filter((n) => n.kind === 'group');
  assert.equal(groups.length, 1);
  assert.equal(groups[0].group!.count, 10000);
  assert.equal(groups[0].group!.histogram[6], 10000);
  assert.equal(groups[0].parent, 'r:root');
  assert.equal(groups[0].group!.pending, false);
  assert.equal(g.nodes.filter((n) => n.kind === 'run').length, 1);  // Count
  // The gather is hidden and its edges joined: Noop group -> Count.
  assert.deepEqual(g.edges, [['g:root|Noop', 'r:c']]);
  assert.ok(!g.nodes.some((n) => n.label === 'sematic.gather'));
});

test('a small group is one node per run, with one edge per producer', () => {
  const f = fanout(5, 5);
  const g = buildGraph({ ...f, expandedGroups: new Set(), collapsed: new Set() });
  assert.equal(g.nodes.filter((n) => n.kind === 'run' && n.label === 'Noop').length, 5);
  assert.equal(g.nodes.filter((n) => n.kind === 'group').length, 0);
  assert.equal(g.edges.length, 5);
  assert.ok(g.edges.every(([, to]) => to === 'r:c'));
  assert.equal(g.nodes.find((n) => n.id === 'r:root')!.kind, 'cluster');
});

test('an expanded group shows its loaded runs; a collapsed nested run is one node', () => {
  const f = fanout(30, 30);
  const open = buildGraph({ ...f, expandedGroups: new Set([groupKey('root', 'Noop')]), collapsed: new Set() });
  assert.equal(open.nodes.filter((n) => n.label === 'Noop').length, 30);
  const closed = buildGraph({ ...f, expandedGroups: new Set(), collapsed: new Set(['root']) });
  assert.deepEqual(closed.nodes.map((n) => [n.id, n.kind]), [['r:root', 'run']]);
  assert.equal(closed.edges.length, 0);
});

test('layout: no overlaps at a level, children inside their cluster, stable under state changes', () => {
  const f = fanout(5, 5);
  const g = buildGraph({ ...f, expandedGroups: new Set(), collapsed: new Set() });
  const laid = layoutGraph(g);
  const byId = new Map(laid.nodes.map((p) => [p.node.id, p]));
  const root = byId.get('r:root')!;
  const kids = laid.nodes.filter((p) => p.node.parent === 'r:root');
  assert.equal(kids.length, 6);
  for (const k of kids) {
    assert.ok(k.x >= root.x && k.y >= root.y && k.x + k.w <= root.x + root.w + 0.01 && k.y + k.h <= root.y + root.h + 0.01, `${k.node.id} inside`);
  }
  for (let i = 0; i < kids.length; i++) for (let j = i + 1; j < kids.length; j++) {
    const a = kids[i], b = kids[j];
    const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    assert.ok(!overlap, `${a.node.id} overlaps ${b.node.id}`);
  }
  // Count sits below the Noops it consumes.
  const count = byId.get('r:c')!;
  assert.ok(kids.filter((k) => k.node.label === 'Noop').every((k) => k.y + k.h <= count.y));
  f.runs.set('c', { ...f.runs.get('c')!, state: 'SUCCEEDED' });
  const g2 = buildGraph({ ...f, expandedGroups: new Set(), collapsed: new Set() });
  assert.equal(structureKey(g2), structureKey(g));
  assert.equal(laid.edges.length, 5);
});

test('a small group whose runs are not loaded yet is a pending placeholder', () => {
  const g = buildGraph({ groups: [group('', 'Sweep', 1)], runs: new Map(), inputs: new Map(),
    expandedGroups: new Set(), collapsed: new Set() });
  assert.deepEqual(g.nodes.map((n) => [n.kind, n.group?.pending]), [['group', true]]);
});

test('current states overlay a graph built earlier: runs and group histograms', () => {
  const f = fanout(10000, 50);
  const g = buildGraph({ ...f, expandedGroups: new Set(), collapsed: new Set() });
  const runs = new Map(f.runs).set('c', { ...f.runs.get('c')!, state: 'FAILED' });
  const groups = f.groups.map((x) => (x.function === 'Noop' ? { ...x, runsByState: ['0', '0', '0', '0', '10', '0', '9990', '0', '0', '0'] } : x));
  const live = withCurrentStates(g, groups, runs);
  assert.equal(live.nodes.find((n) => n.id === 'r:c')!.state, 'FAILED');
  const noop = live.nodes.find((n) => n.kind === 'group')!;
  assert.equal(noop.state, 'RUNNING');
  assert.equal(noop.group!.histogram[4], 10);
  assert.equal(structureKey(live), structureKey(g));
  assert.equal(g.nodes.find((n) => n.id === 'r:c')!.state, 'RUNNING');  // the input is not changed
});
