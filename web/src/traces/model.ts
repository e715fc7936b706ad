// Shapes a Jaeger trace for drawing: a span tree in display order with depth,
// per-span error flags, the critical path and a summary. Pure functions only.

import type { JaegerKV, JaegerSpan, JaegerTrace } from '../api';
import { PALETTE } from '../format';

export interface SpanNode {
  span: JaegerSpan;
  service: string;
  /** Attributes of the process (resource) that emitted the span. */
  resource: JaegerKV[];
  depth: number;
  parentID: string | null;
  children: SpanNode[];
  error: boolean;
  /** On the critical path: the chain of work that decided the trace's duration. */
  critical: boolean;
  /** Start relative to the trace start, µs. */
  offset: number;
}

export interface TraceModel {
  traceID: string;
  start: number; // µs since epoch
  duration: number; // µs
  /** Spans depth-first in start order; parents before their children. */
  rows: SpanNode[];
  roots: SpanNode[];
  services: string[];
  errorCount: number;
  rootName: string;
  rootService: string;
}

/** Reports whether a span carries an error by Jaeger or OpenTelemetry convention. */
export function isErrorSpan(span: JaegerSpan): boolean {
  for (const t of span.tags ?? []) {
    if (t.key === 'error' && (t.value === true || t.value === 'true')) return true;
    if (t.key === 'otel.status_code' && String(t.value).toUpperCase() === 'ERROR') return true;
  }
  return false;
}

/** Builds the display model of a trace. Spans whose parent is missing become roots. */
export function buildTrace(t: JaegerTrace): TraceModel {
  const nodes = new Map<string, SpanNode>();
  for (const s of t.spans) {
    nodes.set(s.spanID, {
      span: s,
      service: t.processes[s.processID]?.serviceName ?? s.processID,
      resource: t.processes[s.processID]?.tags ?? [],
      depth: 0,
      parentID: null,
      children: [],
      error: isErrorSpan(s),
      critical: false,
      offset: 0,
    });
  }
  const roots: SpanNode[] = [];
  for (const n of nodes.values()) {
    const refs = n.span.references ?? [];
    const parentRef = refs.find((r) => r.refType === 'CHILD_OF') ?? refs[0];
    const parent = parentRef && parentRef.spanID !== n.span.spanID ? nodes.get(parentRef.spanID) : undefined;
    if (parent) {
      n.parentID = parent.span.spanID;
      parent.children.push(n);
    } else roots.push(n);
  }
  const byStart = (a: SpanNode, b: SpanNode) => a.span.startTime - b.span.startTime || a.span.spanID.localeCompare(b.span.spanID);
  roots.sort(byStart);

  let start = Infinity;
  let end = -Infinity;
  for (const s of t.spans) {
    start = Math.min(start, s.startTime);
    end = Math.max(end, s.startTime + s.duration);
  }
  if (!Number.isFinite(start)) {
    start = 0;
    end = 0;
  }

  // Depth-first order, iteratively so that deep traces cannot overflow the stack;
  // a visited set guards against reference cycles in malformed input.
  const rows: SpanNode[] = [];
  const seen = new Set<string>();
  const stack: SpanNode[] = [...roots].reverse().map((r) => r);
  for (const r of roots) r.depth = 0;
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n.span.spanID)) continue;
    seen.add(n.span.spanID);
    n.offset = n.span.startTime - start;
    rows.push(n);
    n.children.sort(byStart);
    for (let i = n.children.length - 1; i >= 0; i--) {
      const c = n.children[i]!;
      c.depth = n.depth + 1;
      stack.push(c);
    }
  }
  // Spans only reachable through a cycle are still shown, at the top level.
  for (const n of nodes.values()) {
    if (!seen.has(n.span.spanID)) {
      n.offset = n.span.startTime - start;
      n.depth = 0;
      rows.push(n);
    }
  }

  const main = roots.reduce<SpanNode | undefined>((best, r) => (!best || r.span.duration > best.span.duration ? r : best), undefined);
  if (main) markCritical(main);

  const services = [...new Set(rows.map((r) => r.service))].sort();
  return {
    traceID: t.traceID,
    start,
    duration: end - start,
    rows,
    roots,
    services,
    errorCount: rows.filter((r) => r.error).length,
    rootName: main?.span.operationName ?? '(no spans)',
    rootService: main?.service ?? '',
  };
}

/**
 * Marks the critical path under root: walking back from a span's end, the
 * child that finished last decided the wait; the walk continues from that
 * child's start with the children that had finished by then, and descends
 * into each picked child the same way.
 */
function markCritical(root: SpanNode): void {
  const work: { n: SpanNode; limit: number }[] = [{ n: root, limit: Infinity }];
  const seen = new Set<string>();
  while (work.length) {
    const { n, limit } = work.pop()!;
    if (seen.has(n.span.spanID)) continue;
    seen.add(n.span.spanID);
    n.critical = true;
    let cursor = Math.min(n.span.startTime + n.span.duration, limit);
    const kids = [...n.children].sort(
      (a, b) => b.span.startTime + b.span.duration - (a.span.startTime + a.span.duration),
    );
    let first = true;
    for (const c of kids) {
      const cEnd = c.span.startTime + c.span.duration;
      if (c.span.startTime >= cursor) continue; // started after the part still to explain
      // After the first pick, only a child that was done before the picked one
      // started can have held up the parent; overlapping siblings did not.
      if (!first && cEnd > cursor) continue;
      work.push({ n: c, limit: Math.min(cEnd, cursor) });
      cursor = c.span.startTime;
      first = false;
      if (cursor <= n.span.startTime) break;
    }
  }
}

/** A stable colour per service name. */
export function serviceColor(service: string): string {
  let h = 0;
  for (let i = 0; i < service.length; i++) h = (h * 31 + service.charCodeAt(i)) | 0;
  return PALETTE[Math.abs(h) % PALETTE.length] ?? '#3b82f6';
}

/** Formats microseconds as a readable duration (850µs, 12.3ms, 1.25s). */
export function formatMicros(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1e6) return `${Number((us / 1000).toPrecision(3))}ms`;
  if (us < 60e6) return `${Number((us / 1e6).toPrecision(3))}s`;
  const m = Math.floor(us / 60e6);
  return `${m}m${Math.round((us - m * 60e6) / 1e6)}s`;
}

/** Renders a tag value as text. */
export function kvText(kv: JaegerKV): string {
  return typeof kv.value === 'string' ? kv.value : JSON.stringify(kv.value);
}

/** Parses "key=value key2="quoted value"" into a tag filter map; throws on bad input. */
export function parseTags(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*/y;
  let pos = 0;
  const src = s.trim();
  while (pos < src.length) {
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m || !m[1]) throw new Error(`cannot read the tags near "${src.slice(pos, pos + 20)}": write key=value pairs`);
    out[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    pos = re.lastIndex;
  }
  return out;
}
