// Live state histograms of run groups from job events. A run seen before moves exactly from its
// known state; a new run (first seen CREATED) adds to its group; a run first seen in another
// state was counted already in the snapshot in a state not known here: it moves from the
// nearest earlier unfinished state that has runs (a guess), and the caller re-reads the groups
// (`needsResync`) to be exact. Pure apart from the state it owns.
import type { Run, RunGroup, RunState } from '../api/types';
import { groupKey } from './dag';
import { runStateIndex } from './state';

export class GroupTracker {
  private groups = new Map<string, RunGroup>();
  private order: string[] = [];
  private known = new Map<string, RunState>();
  needsResync = false;
  structureChanged = false;

  constructor(groups: readonly RunGroup[] = []) { this.reset(groups); }

  // Replaces the counts with a fresh snapshot (states of runs seen stay known).
  reset(groups: readonly RunGroup[]): void {
    const before = this.order.join('\n');
    this.groups = new Map();
    this.order = [];
    for (const g of groups) {
      const k = groupKey(g.parentId, g.function);
      this.groups.set(k, { ...g, runsByState: [...g.runsByState] });
      this.order.push(k);
    }
    this.needsResync = false;
    if (before !== this.order.join('\n')) this.structureChanged = true;
  }

  list(): RunGroup[] { return this.order.map((k) => this.groups.get(k)!); }

  // Applies one run event. Returns the group's key.
  apply(run: Run): string {
    const k = groupKey(run.parentId, run.function);
    let g = this.groups.get(k);
    const prev = this.known.get(run.id);
    this.known.set(run.id, run.state);
    if (!g) {
      g = { parentId: run.parentId, function: run.function, count: '0',
        runsByState: new Array(10).fill('0'), firstRunId: run.id,
        firstCreatedUnixMicros: run.createdUnixMicros, firstStartedUnixMicros: '0',
        lastEndedUnixMicros: '0', builtin: run.builtin, nested: run.nested };
      this.groups.set(k, g);
      this.order.push(k);
      this.structureChanged = true;
      if (run.state !== 'CREATED') this.needsResync = true;
    }
    const bump = (state: RunState, d: number) => {
      const i = runStateIndex(state);
      g!.runsByState[i] = String(Math.max(0, Number(g!.runsByState[i] || 0) + d));
    };
    if (prev !== undefined) {
      if (prev !== run.state) { bump(prev, -1); bump(run.state, +1); }
    } else if (run.state === 'CREATED') {
      g.count = String(Number(g.count) + 1);
      bump('CREATED', +1);
    } else {
      const from = guessPrevious(g, run.state);
      if (from) { bump(from, -1); bump(run.state, +1); }
      this.needsResync = true;
    }
    if (run.nested && !g.nested) g.nested = true;
    return k;
  }
}

const UNFINISHED: RunState[] = ['CREATED', 'QUEUED', 'ASSIGNED', 'RUNNING', 'WAITING'];

// The unfinished state nearest before `to` in the life cycle that has runs in `g`.
function guessPrevious(g: RunGroup, to: RunState): RunState | undefined {
  const limit = UNFINISHED.includes(to) ? UNFINISHED.indexOf(to) : UNFINISHED.length;
  for (let i = limit - 1; i >= 0; i--) {
    if (Number(g.runsByState[runStateIndex(UNFINISHED[i])] || 0) > 0) return UNFINISHED[i];
  }
  return undefined;
}
