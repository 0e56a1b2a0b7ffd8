// The job's graph as the DAG view draws it, from the run groups and whatever runs are loaded.
//
//   const g = buildGraph({groups, runs, inputs, expandedGroups, collapsed});
//   const laid = layoutGraph(g);          // dagre, level by level; clusters sized by contents
//
// A (parent, function) group of more than AGGREGATE_THRESHOLD runs is one node with a state
// histogram unless expanded; smaller groups are one node per run. Builtin runs (gather, field,
// ...) are hidden and the edges through them joined. A nested run with children is a cluster
// holding its graph unless collapsed. Pure: no DOM, no fetches.
import dagre from '@dagrejs/dagre';
import type { Run, RunGroup, RunInput, RunState } from '../api/types';
import { dominantState, histogram } from './state';

export const AGGREGATE_THRESHOLD = 20;

export type DagNodeKind = 'run' | 'group' | 'cluster';

export interface DagNode {
  id: string;            // "r:<run id>" or "g:<parent>|<function>"
  kind: DagNodeKind;
  parent: string;        // the cluster node holding it; '' at the top
  label: string;
  state: RunState;
  runId?: string;        // run and cluster nodes
  // Group nodes: `pending` when the group is small but its runs are not loaded yet.
  group?: { parentId: string; function: string; count: number; histogram: number[]; pending: boolean };
  nested?: boolean;      // a run node that could open as a cluster
}

export interface DagGraph { nodes: DagNode[]; edges: [string, string][] }

export interface GraphInput {
  groups: RunGroup[];
  runs: ReadonlyMap<string, Run>;           // loaded runs by id
  inputs: ReadonlyMap<string, RunInput[]>;  // run id -> its inputs (from GET runs/:id)
  expandedGroups: ReadonlySet<string>;      // group keys opened into their runs
  collapsed: ReadonlySet<string>;           // nested run ids drawn as one node
  threshold?: number;
}

export function groupKey(parentId: string, fn: string): string { return `${parentId}|${fn}`; }

// Whether the group is drawn as one aggregated node.
export function isAggregated(g: RunGroup, expanded: ReadonlySet<string>, threshold = AGGREGATE_THRESHOLD): boolean {
  return Number(g.count) > threshold && !expanded.has(groupKey(g.parentId, g.function));
}

export function buildGraph(input: GraphInput): DagGraph {
  const threshold = input.threshold ?? AGGREGATE_THRESHOLD;
  const { groups, runs, inputs, expandedGroups, collapsed } = input;
  const parentsWithChildren = new Set(groups.map((g) => g.parentId).filter((p) => p));
  const byGroup = new Map<string, Run[]>();
  for (const r of runs.values()) {
    const k = groupKey(r.parentId, r.function);
    let list = byGroup.get(k);
    if (!list) byGroup.set(k, (list = []));
    list.push(r);
  }
  for (const list of byGroup.values()) list.sort((a, b) => (a.id < b.id ? -1 : 1));
  const groupsByParent = new Map<string, RunGroup[]>();
  for (const g of groups) {
    let list = groupsByParent.get(g.parentId);
    if (!list) groupsByParent.set(g.parentId, (list = []));
    list.push(g);
  }

  const nodes: DagNode[] = [];
  // Where each run id is drawn: its node, or the aggregated group / collapsed cluster it is in.
  const drawnAs = new Map<string, string>();
  const hiddenBuiltins = new Set<string>();

  const addLevel = (parentRunId: string, clusterId: string) => {
    for (const g of groupsByParent.get(parentRunId) ?? []) {
      const key = groupKey(g.parentId, g.function);
      const loaded = byGroup.get(key) ?? [];
      if (g.builtin) {
        for (const r of loaded) hiddenBuiltins.add(r.id);
        continue;
      }
      const count = Number(g.count);
      const aggregated = count > threshold && !expandedGroups.has(key);
      if (aggregated || loaded.length === 0) {
        const h = histogram(g.runsByState);
        const id = `g:${key}`;
        nodes.push({ id, kind: 'group', parent: clusterId, label: g.function, state: dominantState(h),
          group: { parentId: g.parentId, function: g.function, count, histogram: h, pending: !aggregated } });
        for (const r of loaded) drawnAs.set(r.id, id);
        continue;
      }
      for (const r of loaded) {
        const id = `r:${r.id}`;
        const nested = r.nested || parentsWithChildren.has(r.id);
        const asCluster = nested && parentsWithChildren.has(r.id) && !collapsed.has(r.id);
        nodes.push({ id, kind: asCluster ? 'cluster' : 'run', parent: clusterId, label: r.function,
          state: r.state, runId: r.id, nested });
        drawnAs.set(r.id, id);
        if (asCluster) addLevel(r.id, id);
      }
    }
  };
  addLevel('', '');

  // Runs inside a collapsed or undrawn nested run are drawn as their nearest drawn ancestor.
  const resolve = (runId: string, depth = 0): string[] => {
    const direct = drawnAs.get(runId);
    if (direct) return [direct];
    if (depth > 64) return [];
    if (hiddenBuiltins.has(runId)) {
      const out: string[] = [];
      for (const inp of inputs.get(runId) ?? []) {
        if (inp.producerRunId) out.push(...resolve(inp.producerRunId, depth + 1));
      }
      return out;
    }
    const r = runs.get(runId);
    if (r && r.parentId) return resolve(r.parentId, depth + 1);
    return [];
  };

  const edgeSet = new Set<string>();
  const edges: [string, string][] = [];
  const consumers: [string, RunInput[]][] = [];
  for (const [runId, ins] of inputs) if (!hiddenBuiltins.has(runId)) consumers.push([runId, ins]);
  for (const [runId, ins] of consumers) {
    const to = drawnAs.get(runId);
    if (!to) continue;
    for (const inp of ins) {
      if (!inp.producerRunId) continue;
      for (const from of resolve(inp.producerRunId)) {
        if (from === to) continue;
        const k = `${from}->${to}`;
        if (!edgeSet.has(k)) { edgeSet.add(k); edges.push([from, to]); }
      }
    }
  }
  return { nodes, edges };
}

// `g` with the current states: run nodes from `runs`, group histograms from `groups`. Cheap
// (one pass over the nodes), so a graph built once per structure change stays live.
export function withCurrentStates(g: DagGraph, groups: readonly RunGroup[], runs: ReadonlyMap<string, Run>): DagGraph {
  const byKey = new Map(groups.map((x) => [groupKey(x.parentId, x.function), x]));
  const nodes = g.nodes.map((n) => {
    if (n.group) {
      const cur = byKey.get(groupKey(n.group.parentId, n.group.function));
      if (!cur) return n;
      const h = histogram(cur.runsByState);
      return { ...n, state: dominantState(h), group: { ...n.group, count: Number(cur.count), histogram: h } };
    }
    const r = n.runId ? runs.get(n.runId) : undefined;
    return r && r.state !== n.state ? { ...n, state: r.state } : n;
  });
  return { nodes, edges: g.edges };
}

// ---- layout -------------------------------------------------------------------------------

export const NODE_SIZE: Record<DagNodeKind, { w: number; h: number }> = {
  run: { w: 176, h: 40 }, group: { w: 208, h: 64 }, cluster: { w: 176, h: 40 },
};
const CLUSTER_PAD = 14;
const CLUSTER_HEADER = 26;

export interface PlacedNode { node: DagNode; x: number; y: number; w: number; h: number } // top-left
export interface PlacedEdge { from: string; to: string; points: { x: number; y: number }[] }
export interface DagLayout { nodes: PlacedNode[]; edges: PlacedEdge[]; width: number; height: number }

// A structural key: equal keys lay out the same (states do not move nodes).
export function structureKey(g: DagGraph): string {
  return `${g.nodes.map((n) => `${n.id}:${n.kind}:${n.parent}`).join(',')}#${g.edges.map((e) => e.join('>')).join(',')}`;
}

export function layoutGraph(g: DagGraph): DagLayout {
  const children = new Map<string, DagNode[]>();
  const byId = new Map<string, DagNode>();
  for (const n of g.nodes) {
    byId.set(n.id, n);
    let list = children.get(n.parent);
    if (!list) children.set(n.parent, (list = []));
    list.push(n);
  }
  const chain = (id: string): string[] => {
    const out: string[] = [];
    for (let cur: string | undefined = id; cur; cur = byId.get(cur)?.parent) out.unshift(cur);
    return out;
  };
  // Each edge lives at the level of its endpoints' deepest common cluster.
  const levelEdges = new Map<string, [string, string][]>();
  for (const [u, v] of g.edges) {
    if (!byId.has(u) || !byId.has(v)) continue;
    const cu = chain(u), cv = chain(v);
    let i = 0;
    while (i < cu.length && i < cv.length && cu[i] === cv[i]) i++;
    if (i >= cu.length || i >= cv.length) continue;  // one contains the other
    const level = i === 0 ? '' : cu[i - 1];
    let list = levelEdges.get(level);
    if (!list) levelEdges.set(level, (list = []));
    list.push([cu[i], cv[i]]);
  }

  interface Local { x: number; y: number; w: number; h: number }
  const local = new Map<string, Local>();            // position within its cluster's content
  const localEdges = new Map<string, PlacedEdge[]>(); // per level, content coordinates
  const sizeOf = new Map<string, { w: number; h: number }>();

  const layoutLevel = (level: string): { w: number; h: number } => {
    const members = children.get(level) ?? [];
    for (const n of members) {
      if (n.kind === 'cluster') {
        const inner = layoutLevel(n.id);
        sizeOf.set(n.id, { w: Math.max(inner.w + 2 * CLUSTER_PAD, NODE_SIZE.run.w),
          h: inner.h + CLUSTER_PAD + CLUSTER_HEADER });
      } else {
        sizeOf.set(n.id, NODE_SIZE[n.kind]);
      }
    }
    const dg = new dagre.graphlib.Graph({ multigraph: false });
    dg.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 40, marginx: 0, marginy: 0 });
    dg.setDefaultEdgeLabel(() => ({}));
    for (const n of members) {
      const s = sizeOf.get(n.id)!;
      dg.setNode(n.id, { width: s.w, height: s.h });
    }
    const seen = new Set<string>();
    for (const [u, v] of levelEdges.get(level) ?? []) {
      const k = `${u}>${v}`;
      if (u === v || seen.has(k)) continue;
      seen.add(k);
      dg.setEdge(u, v);
    }
    dagre.layout(dg);
    let w = 0, h = 0;
    for (const n of members) {
      const p = dg.node(n.id);
      const s = sizeOf.get(n.id)!;
      const x = p.x - s.w / 2, y = p.y - s.h / 2;
      local.set(n.id, { x, y, w: s.w, h: s.h });
      w = Math.max(w, x + s.w);
      h = Math.max(h, y + s.h);
    }
    localEdges.set(level, dg.edges().map((e) => ({
      from: e.v, to: e.w, points: (dg.edge(e).points ?? []).map((p: { x: number; y: number }) => ({ x: p.x, y: p.y })),
    })));
    return { w, h };
  };
  const top = layoutLevel('');

  const placed: PlacedNode[] = [];
  const edges: PlacedEdge[] = [];
  const place = (level: string, ox: number, oy: number) => {
    for (const e of localEdges.get(level) ?? []) {
      edges.push({ from: e.from, to: e.to, points: e.points.map((p) => ({ x: p.x + ox, y: p.y + oy })) });
    }
    for (const n of children.get(level) ?? []) {
      const l = local.get(n.id)!;
      placed.push({ node: n, x: l.x + ox, y: l.y + oy, w: l.w, h: l.h });
      if (n.kind === 'cluster') place(n.id, l.x + ox + CLUSTER_PAD, l.y + oy + CLUSTER_HEADER);
    }
  };
  place('', 0, 0);
  return { nodes: placed, edges, width: top.w, height: top.h };
}
