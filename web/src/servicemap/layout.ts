// Lays out a service graph left to right: callers before callees, each node
// in the column of its longest call chain from an entry service, and nodes in
// a column ordered by where their callers sit. routeEdges then draws each
// call as a curve with its own ports on both nodes, passing between the nodes
// of the columns it crosses, and places each edge's label on its curve where
// it covers no node and no other label. Pure functions only.

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
const COL_GAP = 170; // room for a two-line edge label (rate · errors, p95)
const ROW_GAP = 56;
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

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One edge as drawn: its SVG path, points along it, and where its label sits. */
export interface EdgeRoute {
  edge: MapEdge;
  /** SVG path data, ending at the callee (where the arrow head goes). */
  d: string;
  /** Points along the path, start to end, for hit tests. */
  points: Point[];
  /** The label's box (empty when the edge has no label) and its lines. */
  label: Box;
  lines: string[];
  /** True when no free spot was found and the label overlaps something. */
  crowded: boolean;
}

export interface RoutedMap {
  routes: EdgeRoute[];
  /** The drawing's extent (its SVG viewBox), grown from the layout's to hold every route and label. */
  minX: number;
  minY: number;
  width: number;
  height: number;
}

/** Label metrics: 11px text, 13px line height, padding around the text. */
export const LABEL_LINE_H = 13;
export const LABEL_PAD_X = 5;
export const LABEL_PAD_Y = 3;
const CHAR_W = 6.3; // a generous mean advance of 11px sans-serif
const NODE_PAD = 4; // labels keep this far from nodes
const LABEL_GAP = 2; // …and from each other
const ARROW_ROOM = 12; // and from the arrow heads left of a node

/** The box a label of these lines needs (text width estimated from its length). */
export function labelSize(lines: string[], charWidth = CHAR_W): { w: number; h: number } {
  if (lines.length === 0) return { w: 0, h: 0 };
  const chars = Math.max(...lines.map((l) => l.length));
  return { w: Math.ceil(chars * charWidth) + 2 * LABEL_PAD_X, h: lines.length * LABEL_LINE_H + 2 * LABEL_PAD_Y };
}

/** Whether two boxes overlap, each grown by pad. */
export function boxesOverlap(a: Box, b: Box, pad = 0): boolean {
  return a.x - pad < b.x + b.w && b.x - pad < a.x + a.w && a.y - pad < b.y + b.h && b.y - pad < a.y + a.h;
}

function overlapArea(a: Box, b: Box, pad: number): number {
  const w = Math.min(a.x + a.w, b.x + b.w + pad) - Math.max(a.x, b.x - pad);
  const h = Math.min(a.y + a.h, b.y + b.h + pad) - Math.max(a.y, b.y - pad);
  return w > 0 && h > 0 ? w * h : 0;
}

type Seg = { kind: 'L'; a: Point; b: Point } | { kind: 'C'; a: Point; c1: Point; c2: Point; b: Point };

/** Joins waypoints with straight runs where they are level and S-curves with level ends elsewhere. */
function smooth(pts: Point[]): Seg[] {
  const segs: Seg[] = [];
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1]!;
    const b = pts[i]!;
    if (Math.abs(a.y - b.y) < 0.5) segs.push({ kind: 'L', a, b });
    else {
      const mx = (a.x + b.x) / 2;
      segs.push({ kind: 'C', a, c1: { x: mx, y: a.y }, c2: { x: mx, y: b.y }, b });
    }
  }
  return segs;
}

function pathOf(segs: Seg[]): string {
  const r = (n: number) => Math.round(n * 10) / 10;
  const p = (q: Point) => `${r(q.x)},${r(q.y)}`;
  let d = segs.length ? `M${p(segs[0]!.a)}` : '';
  for (const s of segs) d += s.kind === 'L' ? ` L${p(s.b)}` : ` C${p(s.c1)} ${p(s.c2)} ${p(s.b)}`;
  return d;
}

function sample(segs: Seg[], perSeg = 24): Point[] {
  const out: Point[] = [];
  for (const s of segs) {
    const n = s.kind === 'L' ? 4 : perSeg;
    for (let i = out.length ? 1 : 0; i <= n; i++) {
      const t = i / n;
      if (s.kind === 'L') out.push({ x: s.a.x + (s.b.x - s.a.x) * t, y: s.a.y + (s.b.y - s.a.y) * t });
      else {
        const u = 1 - t;
        const k0 = u * u * u;
        const k1 = 3 * u * u * t;
        const k2 = 3 * u * t * t;
        const k3 = t * t * t;
        out.push({
          x: k0 * s.a.x + k1 * s.c1.x + k2 * s.c2.x + k3 * s.b.x,
          y: k0 * s.a.y + k1 * s.c1.y + k2 * s.c2.y + k3 * s.b.y,
        });
      }
    }
  }
  return out;
}

/** Points at the given fractions of a polyline's length. */
function along(points: Point[], fractions: number[]): Point[] {
  const cum = [0];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    cum.push(cum[i - 1]! + Math.hypot(b.x - a.x, b.y - a.y));
  }
  const total = cum[cum.length - 1]!;
  return fractions.map((f) => {
    const want = f * total;
    let i = 1;
    while (i < cum.length - 1 && cum[i]! < want) i++;
    const a = points[i - 1]!;
    const b = points[i] ?? a;
    const len = cum[i]! - cum[i - 1]!;
    const t = len > 0 ? (want - cum[i - 1]!) / len : 0;
    return { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
  });
}

/** Evenly spread ports along a node side: k ports at 1/(k+1), 2/(k+1), … of its height. */
function portY(node: MapNode, i: number, k: number): number {
  return node.y + (NODE_H * (i + 1)) / (k + 1);
}

/** Candidate label spots as fractions of the path, nearest the middle first. */
const SPOTS = (() => {
  const f: number[] = [];
  for (let i = 0; i <= 14; i++) f.push(0.15 + i * 0.05);
  return f.sort((a, b) => Math.abs(a - 0.5) - Math.abs(b - 0.5) || a - b);
})();

/**
 * Routes every edge of a layout and places its label. Forward calls leave
 * the caller's right side and enter the callee's left side at ports spread
 * along the side in the order of the other ends, so calls converging on one
 * node (a shared database) arrive apart; a call that skips columns passes
 * through the gap between the nodes of each column it crosses. Each label is
 * centred on its curve at the spot, nearest the curve's middle, that covers
 * no node and no label already placed (shortest edges are placed first, as
 * they have the fewest spots); when there is none, the spot that overlaps
 * least is taken and the route is marked crowded.
 */
export function routeEdges(layout: MapLayout, labelOf: (e: MapEdge) => string[], charWidth = CHAR_W): RoutedMap {
  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  const cols = new Map<number, MapNode[]>();
  for (const n of layout.nodes) (cols.get(n.column) ?? cols.set(n.column, []).get(n.column)!).push(n);
  for (const list of cols.values()) list.sort((a, b) => a.y - b.y);

  // Ports: forward edges only, ordered by the other end's position.
  const outs = new Map<string, MapEdge[]>();
  const ins = new Map<string, MapEdge[]>();
  const forward = layout.edges.filter((e) => !e.back && byId.has(e.from) && byId.has(e.to));
  for (const e of forward) {
    (outs.get(e.from) ?? outs.set(e.from, []).get(e.from)!).push(e);
    (ins.get(e.to) ?? ins.set(e.to, []).get(e.to)!).push(e);
  }
  const pos = (id: string) => byId.get(id)!;
  for (const list of outs.values()) list.sort((a, b) => pos(a.to).y - pos(b.to).y || pos(a.to).x - pos(b.to).x);
  for (const list of ins.values()) list.sort((a, b) => pos(a.from).y - pos(b.from).y || pos(b.from).x - pos(a.from).x);

  const shapes: { edge: MapEdge; segs: Seg[] }[] = [];
  for (const e of layout.edges) {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    if (!a || !b) continue;
    if (a === b) {
      const x = a.x + NODE_W - 24;
      shapes.push({ edge: e, segs: [{ kind: 'C', a: { x, y: a.y }, c1: { x, y: a.y - 34 }, c2: { x: x + 40, y: a.y - 34 }, b: { x: x + 24, y: a.y } }] });
      continue;
    }
    if (e.back) {
      const x1 = a.x + NODE_W / 2;
      const x2 = b.x + NODE_W / 2;
      const y = Math.max(a.y, b.y) + NODE_H + 36;
      shapes.push({ edge: e, segs: [{ kind: 'C', a: { x: x1, y: a.y + NODE_H }, c1: { x: x1, y }, c2: { x: x2, y }, b: { x: x2, y: b.y + NODE_H } }] });
      continue;
    }
    const o = outs.get(e.from)!;
    const i = ins.get(e.to)!;
    const start = { x: a.x + NODE_W, y: portY(a, o.indexOf(e), o.length) };
    const end = { x: b.x - 2, y: portY(b, i.indexOf(e), i.length) };
    const pts: Point[] = [start];
    // Through each column between the two: the gap nearest the straight line.
    for (let c = a.column + 1; c < b.column; c++) {
      const list = cols.get(c) ?? [];
      if (list.length === 0) continue;
      const cx = list[0]!.x;
      const want = start.y + ((end.y - start.y) * (cx + NODE_W / 2 - start.x)) / (end.x - start.x);
      const gaps = [list[0]!.y - ROW_GAP / 2];
      for (let k = 1; k < list.length; k++) gaps.push((list[k - 1]!.y + NODE_H + list[k]!.y) / 2);
      gaps.push(list[list.length - 1]!.y + NODE_H + ROW_GAP / 2);
      const gy = gaps.reduce((best, g) => (Math.abs(g - want) < Math.abs(best - want) ? g : best));
      pts.push({ x: cx - 10, y: gy }, { x: cx + NODE_W + 10, y: gy });
    }
    pts.push(end);
    shapes.push({ edge: e, segs: smooth(pts) });
  }

  const sampled = shapes.map((s) => ({ ...s, points: sample(s.segs) }));
  // Arrow heads enter nodes from the left: labels keep clear of them too.
  const nodeBoxes: Box[] = layout.nodes.map((n) => ({ x: n.x - ARROW_ROOM, y: n.y, w: NODE_W + ARROW_ROOM, h: NODE_H }));
  const placed: Box[] = [];
  const order = sampled
    .map((s, idx) => ({ s, idx, len: s.points.length ? Math.abs(s.points[s.points.length - 1]!.x - s.points[0]!.x) : 0 }))
    .sort((p, q) => p.len - q.len || p.idx - q.idx);
  const result: EdgeRoute[] = new Array(sampled.length);
  for (const { s, idx } of order) {
    const lines = labelOf(s.edge);
    const size = labelSize(lines, charWidth);
    let best: { box: Box; overlap: number; cost: number } | undefined;
    if (size.w > 0) {
      for (const [rank, p] of along(s.points, SPOTS).entries()) {
        const box = { x: p.x - size.w / 2, y: p.y - size.h / 2, w: size.w, h: size.h };
        let overlap = 0;
        for (const n of nodeBoxes) overlap += overlapArea(box, n, NODE_PAD);
        for (const l of placed) overlap += overlapArea(box, l, LABEL_GAP);
        // Among free spots, prefer few other curves under the label, then the middle.
        let crossing = 0;
        for (const o of sampled) if (o !== s && o.points.some((q) => q.x > box.x && q.x < box.x + box.w && q.y > box.y && q.y < box.y + box.h)) crossing++;
        const cost = crossing * 15 + rank;
        if (!best || overlap < best.overlap || (overlap === best.overlap && cost < best.cost)) best = { box, overlap, cost };
      }
    }
    const label = best?.box ?? { x: 0, y: 0, w: 0, h: 0 };
    if (size.w > 0) placed.push(label);
    result[idx] = { edge: s.edge, d: pathOf(s.segs), points: s.points, label, lines, crowded: (best?.overlap ?? 0) > 0 };
  }

  let [x0, y0, x1, y1] = [0, 0, layout.width, layout.height];
  const grow = (x: number, y: number, pad: number) => {
    x0 = Math.min(x0, x - pad);
    y0 = Math.min(y0, y - pad);
    x1 = Math.max(x1, x + pad);
    y1 = Math.max(y1, y + pad);
  };
  for (const r of result) {
    for (const p of r.points) grow(p.x, p.y, MARGIN / 2);
    if (r.label.w > 0) {
      grow(r.label.x, r.label.y, MARGIN / 2);
      grow(r.label.x + r.label.w, r.label.y + r.label.h, MARGIN / 2);
    }
  }
  const minX = Math.floor(x0);
  const minY = Math.floor(y0);
  return { routes: result, minX, minY, width: Math.ceil(x1) - minX, height: Math.ceil(y1) - minY };
}
