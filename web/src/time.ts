// Time ranges as they appear in the URL: relative ("now-1h" .. "now") or
// absolute (ISO 8601 or unix milliseconds). Resolving turns them into unix
// seconds at the moment of a query so relative ranges move with the clock.

export interface RangeSpec {
  from: string;
  to: string;
}

export interface ResolvedRange {
  start: number; // unix seconds
  end: number; // unix seconds
}

export const DEFAULT_RANGE: RangeSpec = { from: 'now-1h', to: 'now' };

export const QUICK_RANGES: { label: string; from: string }[] = [
  { label: 'Last 5 minutes', from: 'now-5m' },
  { label: 'Last 15 minutes', from: 'now-15m' },
  { label: 'Last 1 hour', from: 'now-1h' },
  { label: 'Last 6 hours', from: 'now-6h' },
  { label: 'Last 24 hours', from: 'now-24h' },
  { label: 'Last 7 days', from: 'now-7d' },
];

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses a duration like "30s", "5m", "1h30m" into seconds; NaN if invalid. */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const n = Number(m[1]);
    const unit = m[2] ?? 's';
    total += unit === 'ms' ? n / 1000 : n * (UNIT_SECONDS[unit] ?? NaN);
    matched += m[0].length;
  }
  return matched === s.length && matched > 0 ? total : NaN;
}

/** Formats seconds as a compact Prometheus-style duration ("1h30m", "15s"). */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec <= 0) return '0s';
  if (sec < 1) return `${Math.round(sec * 1000)}ms`;
  let rest = Math.round(sec);
  let out = '';
  for (const [u, n] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= n) {
      out += `${Math.floor(rest / n)}${u}`;
      rest %= n;
    }
  }
  return out;
}

/** Resolves one end of a range to unix seconds; NaN if it cannot be read. */
export function resolveTime(expr: string, nowSec: number): number {
  const e = expr.trim();
  if (e === 'now') return nowSec;
  if (e.startsWith('now-')) return nowSec - parseDuration(e.slice(4));
  if (/^\d{10,}$/.test(e)) return Number(e) / 1000; // unix ms
  const t = Date.parse(e);
  return Number.isNaN(t) ? NaN : t / 1000;
}

/** Resolves a range; throws with a readable message when it is invalid. */
export function resolveRange(r: RangeSpec, nowSec = Date.now() / 1000): ResolvedRange {
  const start = resolveTime(r.from, nowSec);
  const end = resolveTime(r.to, nowSec);
  if (Number.isNaN(start)) throw new Error(`cannot read the start time "${r.from}"`);
  if (Number.isNaN(end)) throw new Error(`cannot read the end time "${r.to}"`);
  if (start >= end) throw new Error('the start of the time range must be before its end');
  return { start, end };
}

/** Reads the range from URL parameters, falling back to the default. */
export function rangeFromParams(p: URLSearchParams): RangeSpec {
  return { from: p.get('from') || DEFAULT_RANGE.from, to: p.get('to') || DEFAULT_RANGE.to };
}

/** A short label for the picker button. */
export function describeRange(r: RangeSpec): string {
  const q = QUICK_RANGES.find((x) => x.from === r.from && r.to === 'now');
  if (q) return q.label;
  if (r.to === 'now' && r.from.startsWith('now-')) return `Last ${r.from.slice(4)}`;
  const fmt = (s: string) => {
    const t = resolveTime(s, Date.now() / 1000);
    return Number.isNaN(t) ? s : formatDateTime(t);
  };
  return `${fmt(r.from)} → ${fmt(r.to)}`;
}

/** Formats unix seconds as local "YYYY-MM-DD HH:MM:SS". */
export function formatDateTime(sec: number): string {
  const d = new Date(sec * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * Formats an axis tick at unix seconds `sec` for ticks `spacing` seconds
 * apart: HH:MM:SS when ticks are under a minute apart or fall between whole
 * minutes (else neighbours would read the same), HH:MM within a day, and
 * MM-DD HH:MM (MM-DD for whole days) when ticks are a day or more apart.
 */
export function formatTimeTick(sec: number, spacing: number): string {
  const full = formatDateTime(sec);
  if (spacing >= 86400) return spacing % 86400 === 0 ? full.slice(5, 10) : full.slice(5, 16);
  if (spacing < 60 || spacing % 60 !== 0) return full.slice(11, 19);
  return full.slice(11, 16);
}

const TICK_SPACINGS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * Picks the spacing of axis labels over buckets of `step` seconds: the
 * smallest round spacing (5 s, 10 s, 1 m, 5 m, …) that is a whole number of
 * buckets and at least `minSpacing` seconds.
 */
export function tickSpacing(step: number, minSpacing: number): number {
  for (const n of TICK_SPACINGS) if (n >= minSpacing && n % step === 0) return n;
  return Math.ceil(minSpacing / step) * step;
}

/** Formats unix seconds for an <input type="datetime-local">. */
export function toLocalInput(sec: number): string {
  return formatDateTime(sec).replace(' ', 'T');
}

/** Picks a query step giving about `points` points over the range, rounded to a nice value. */
export function autoStep(range: ResolvedRange, points = 250): number {
  const raw = (range.end - range.start) / points;
  const nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  for (const n of nice) if (n >= raw) return n;
  return Math.ceil(raw / 86400) * 86400;
}

export const REFRESH_CHOICES = ['', '5s', '10s', '30s', '1m', '5m'];
