// Turns Loki stream results into log rows for display: newest first, with a
// normalised level, the fields a user can filter on, and any trace id.
// Pure functions only.

import type { Labels, LokiStream } from '../api';

export type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'unknown';

export const LEVELS: Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'unknown'];

export interface LogRow {
  /** Unique within one result: stream index and entry index. */
  key: string;
  /** Unix nanoseconds as a decimal string (exact). */
  ns: string;
  /** Unix milliseconds (for display). */
  ms: number;
  line: string;
  level: Level;
  stream: Labels;
  /** Structured metadata and parsed fields sent with the entry. */
  fields: Labels;
  traceID: string;
}

const LEVEL_KEYS = ['level', 'detected_level', 'severity', 'severity_text', 'lvl', 'loglevel'];

/** Maps the many spellings of a level to one of LEVELS. */
export function normaliseLevel(v: string | undefined): Level {
  if (!v) return 'unknown';
  const s = v.trim().toLowerCase();
  if (/^(fatal|crit|critical|panic|emerg|emergency|alert)/.test(s)) return 'fatal';
  if (/^(err|error|e)$/.test(s) || s.startsWith('error')) return 'error';
  if (/^(warn|warning|w)$/.test(s) || s.startsWith('warn')) return 'warn';
  if (/^(info|information|informational|notice|i)$/.test(s)) return 'info';
  if (/^(debug|dbug|d)$/.test(s) || s.startsWith('debug')) return 'debug';
  if (/^(trace|trc|t)$/.test(s)) return 'trace';
  return 'unknown';
}

const LINE_LEVEL = /(?:^|[\s{,"])(?:level|lvl|severity)"?\s*[=:]\s*"?([A-Za-z]+)/;
const LINE_WORD = /\b(FATAL|PANIC|CRITICAL|ERROR|WARN(?:ING)?|INFO|DEBUG|TRACE)\b/;

/** Finds the level of an entry from its labels, its metadata or the line itself. */
export function detectLevel(stream: Labels, fields: Labels, line: string): Level {
  for (const k of LEVEL_KEYS) {
    const v = fields[k] ?? stream[k];
    if (v) {
      const l = normaliseLevel(v);
      if (l !== 'unknown') return l;
    }
  }
  const m = LINE_LEVEL.exec(line) ?? LINE_WORD.exec(line);
  return normaliseLevel(m?.[1]);
}

const TRACE_KEYS = ['trace_id', 'traceid', 'traceID', 'trace.id', 'TraceId'];
const LINE_TRACE = /(?:trace[_.-]?id)"?\s*[=:]\s*"?([0-9a-fA-F]{16,32})\b/i;

/** Finds a trace id in an entry's fields or line; '' if none. */
export function findTraceID(stream: Labels, fields: Labels, line: string): string {
  for (const k of TRACE_KEYS) {
    const v = fields[k] ?? stream[k];
    if (v && /^[0-9a-fA-F]{16,32}$/.test(v)) return v.toLowerCase();
  }
  return LINE_TRACE.exec(line)?.[1]?.toLowerCase() ?? '';
}

function metadataOf(entry: unknown[]): Labels {
  const meta = entry[2];
  if (!meta || typeof meta !== 'object') return {};
  const out: Labels = {};
  const add = (o: unknown) => {
    if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) if (v !== null && typeof v !== 'object') out[k] = String(v);
  };
  const m = meta as Record<string, unknown>;
  if ('structuredMetadata' in m || 'parsed' in m) {
    add(m.structuredMetadata);
    add(m.parsed);
  } else add(m);
  return out;
}

/** Compares two unix-nanosecond strings numerically. */
export function compareNs(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Splits the label set of a result stream into stream labels and fields.
 * The Loki API puts structured metadata and the labels a parser stage
 * (| json, | logfmt) extracted into the result's stream label set unless the
 * entry carries them apart; the names of the indexed stream labels
 * (/loki/api/v1/labels) tell them apart. Without those names (null)
 * everything stays a stream label.
 */
export function splitStreamLabels(stream: Labels, streamNames: ReadonlySet<string> | null): { stream: Labels; fields: Labels } {
  if (!streamNames) return { stream, fields: {} };
  const own: Labels = {};
  const fields: Labels = {};
  for (const [k, v] of Object.entries(stream)) (streamNames.has(k) ? own : fields)[k] = v;
  return { stream: own, fields };
}

/** Flattens streams into rows, newest first; streamNames as for splitStreamLabels. */
export function toRows(streams: LokiStream[], streamNames: ReadonlySet<string> | null = null): LogRow[] {
  const rows: LogRow[] = [];
  streams.forEach((s, si) => {
    const split = splitStreamLabels(s.stream, streamNames);
    s.values.forEach((e, ei) => {
      const fields = { ...split.fields, ...metadataOf(e) };
      const line = e[1];
      rows.push({
        key: `${si}:${ei}`,
        ns: e[0],
        ms: Number(e[0].slice(0, -6) || '0'),
        line,
        level: detectLevel(split.stream, fields, line),
        stream: split.stream,
        fields,
        traceID: findTraceID(split.stream, fields, line),
      });
    });
  });
  rows.sort((a, b) => compareNs(b.ns, a.ns));
  return rows;
}

/** True when the LogQL text is a metric query (it does not start with a selector). */
export function isMetricQuery(q: string): boolean {
  return !q.trim().startsWith('{');
}

/**
 * The volume query: log lines per level per step, computed by the server.
 * A metric query fails on lines its parser could not read (| json over a
 * plain-text line sets __error__), while the line list shows them; dropping
 * the error labels counts every listed line instead of failing.
 */
export function volumeQuery(q: string, stepSec: number): string {
  const step = Math.max(1, Math.round(stepSec));
  return `sum by (level, detected_level) (count_over_time(${q.trim()} | drop __error__, __error_details__ [${step}s]))`;
}

function quote(v: string): string {
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/**
 * Adds a filter for field=value to a log query: a stream label goes into the
 * selector, anything else becomes a label filter stage at the end.
 */
export function addFilter(q: string, key: string, value: string, isStreamLabel: boolean): string {
  const src = q.trim();
  if (isStreamLabel && src.startsWith('{')) {
    const close = selectorEnd(src);
    if (close > 0) {
      const inner = src.slice(1, close).trim();
      const matcher = `${key}=${quote(value)}`;
      return `{${inner ? inner + ', ' : ''}${matcher}}${src.slice(close + 1)}`;
    }
  }
  return `${src} | ${key}=${quote(value)}`;
}

function selectorEnd(src: string): number {
  let quoteCh = '';
  for (let i = 1; i < src.length; i++) {
    const c = src[i];
    if (quoteCh) {
      if (c === '\\' && quoteCh !== '`') i++;
      else if (c === quoteCh) quoteCh = '';
    } else if (c === '"' || c === '`') quoteCh = c;
    else if (c === '}') return i;
  }
  return -1;
}

/**
 * Whether a rule expression reads as LogQL rather than PromQL: a stream
 * selector followed by a line filter or pipeline stage, which PromQL never
 * has. A LogQL metric query without any stage is also valid PromQL and is
 * treated as PromQL.
 */
export function looksLikeLogQL(q: string): boolean {
  return /\}\s*(\|[=~]|!=|!~|\|\s*[a-z_]+)/.test(q);
}

/**
 * The log query inside a LogQL metric query: from the stream selector up
 * to its range (`{app="a"} |= "x"` of `sum(count_over_time({app="a"} |= "x" [5m])) > 0`),
 * without an unwrap stage. A log query is returned as it is.
 */
export function logQueryOf(q: string): string {
  const start = q.indexOf('{');
  if (start < 0) return q.trim();
  let quote = '';
  for (let i = start; i < q.length; i++) {
    const c = q[i];
    if (quote) {
      if (c === '\\' && quote !== '`') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === '`') quote = c;
    else if (c === '[') return q.slice(start, i).replace(/\|\s*unwrap\b[^|]*$/, '').trim();
  }
  return start === 0 || q.slice(0, start).trim() === '' ? q.trim() : q.slice(start).trim();
}
