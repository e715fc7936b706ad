// Lays out a service graph left to right: callers before callees, each node
// in the column of its longest call chain from an entry service, and nodes in
// a column ordered by where their callers sit. Pure functions only.

import type { DependencyLink } from '../api';

export interface MapNode {
  id: string;
  column: number;
  row: number;
  x: number;
  y: number;
  callsIn: number;
  callsOut: number;
}

export interface MapEdge {
  from: string;
  to: string;
  calls: number;
  /** True when the edge goes back to an earlier or the same column (a cycle). */
  back: boolean;
}

export interface MapLayout {
  nodes: MapNode[];
  edges: MapEdge[];
  width: number;
  height: number;
}

export const NODE_W = 150;
export const NODE_H = 44;
const COL_GAP = 150; // room for a two-line edge label (rate · errors, p95)
const ROW_GAP = 48;
const MARGIN = 24;

/** Builds the layout; links with the same pair are summed, self-calls are kept as back edges. */
export function layoutGraph(links: DependencyLink[]): MapLayout {
  const calls = new Map<string, number>();
  const names = new Set<string>();
  for (const l of links) {
    if (!l.parent || !l.child) continue;
    names.add(l.parent);
    names.add(l.child);
    const k = `${l.parent}\u0000${l.child}`;
    calls.set(k, (calls.get(k) ?? 0) + (Number(l.callCount) || 0));
  }
  const out = new Map<string, string[]>();
  const inDeg = new Map<string, number>();
  for (const n of names) {
    out.set(n, []);
    inDeg.set(n, 0);
  }
  for (const k of calls.keys()) {
    const [a, b] = k.split('\u0000') as [string, string];
    if (a === b) continue;
    out.get(a)!.push(b);
    inDeg.set(b, (inDeg.get(b) ?? 0) + 1);
  }

  // Longest-path columns over a DAG made by ignoring edges that close a cycle
  // (found by a depth-first walk from entry services, then from the rest).
  const sorted = [...names].sort();
  const starts = sorted.filter((n) => inDeg.get(n) === 0);
  const state = new Map<string, 1 | 2>();
  const backEdges = new Set<string>();
  const order: string[] = [];
  const visit = (root: string) => {
    const stack: [string, number][] = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [n, i] = top;
      const kids = out.get(n)!;
      if (i < kids.length) {
        top[1]++;
        const c = kids[i]!;
        const st = state.get(c);
        if (st === 1) backEdges.add(`${n}\u0000${c}`);
        else if (st === undefined) {
          state.set(c, 1);
          stack.push([c, 0]);
        }
      } else {
        state.set(n, 2);
        order.push(n);
        stack.pop();
      }
    }
  };
  for (const s of starts) if (!state.has(s)) visit(s);
  for (const s of sorted) if (!state.has(s)) visit(s);
  order.reverse(); // topological order of the DAG

  const column = new Map<string, number>();
  for (const n of order) column.set(n, column.get(n) ?? 0);
  for (const n of order) {
    for (const c of out.get(n)!) {
      if (backEdges.has(`${n}\u0000${c}`)) continue;
      column.set(c, Math.max(column.get(c) ?? 0, (column.get(n) ?? 0) + 1));
    }
  }

  // Order each column by the mean row of its callers (one sweep), then by name.
  const cols: string[][] = [];
  for (const n of order) {
    const c = column.get(n) ?? 0;
    (cols[c] ??= []).push(n);
  }
  const rowOf = new Map<string, number>();
  const parents = new Map<string, string[]>();
  for (const k of calls.keys()) {
    const [a, b] = k.split('\u0000') as [string, string];
    if (a !== b) (parents.get(b) ?? parents.set(b, []).get(b)!).push(a);
  }
  cols.forEach((list, ci) => {
    const score = (n: string) => {
      const ps = (parents.get(n) ?? []).filter((p) => (column.get(p) ?? 0) < ci && rowOf.has(p));
      return ps.length ? ps.reduce((s, p) => s + rowOf.get(p)!, 0) / ps.length : Infinity;
    };
    list.sort((a, b) => score(a) - score(b) || a.localeCompare(b));
    list.forEach((n, i) => rowOf.set(n, i));
  });

  const maxRows = Math.max(1, ...cols.map((c) => c?.length ?? 0));
  const height = MARGIN * 2 + maxRows * NODE_H + (maxRows - 1) * ROW_GAP;
  const nodes: MapNode[] = [];
  cols.forEach((list, ci) => {
    const colH = list.length * NODE_H + (list.length - 1) * ROW_GAP;
    const top = (height - colH) / 2;
    list.forEach((n, ri) => {
      let cin = 0;
      let cout = 0;
      for (const [k, v] of calls) {
        const [a, b] = k.split('\u0000');
        if (b === n) cin += v;
        if (a === n) cout += v;
      }
      nodes.push({ id: n, column: ci, row: ri, x: MARGIN + ci * (NODE_W + COL_GAP), y: top + ri * (NODE_H + ROW_GAP), callsIn: cin, callsOut: cout });
    });
  });
  const edges: MapEdge[] = [...calls].map(([k, v]) => {
    const [a, b] = k.split('\u0000') as [string, string];
    return { from: a, to: b, calls: v, back: a === b || (column.get(b) ?? 0) <= (column.get(a) ?? 0) };
  });
  const width = MARGIN * 2 + Math.max(1, cols.length) * NODE_W + Math.max(0, cols.length - 1) * COL_GAP;
  return { nodes, edges, width, height };
}
