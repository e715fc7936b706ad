// Number and label formatting shared by charts and tables.

import type { Labels } from './api';

/** Formats a series as metric{label="value", ...} the way PromQL users read it. */
export function seriesName(metric: Labels): string {
  const name = metric.__name__ ?? '';
  const rest = Object.keys(metric)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}="${metric[k]}"`);
  if (rest.length === 0) return name || '{}';
  return `${name}{${rest.join(', ')}}`;
}

const SI: [number, string][] = [
  [1e15, 'P'],
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** Formats a value compactly for an axis or tooltip (1.23k, 4.5M, 0.0012). */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  const a = Math.abs(v);
  for (const [n, s] of SI) if (a >= n) return `${trim(v / n)}${s}`;
  if (a === 0) return '0';
  if (a < 0.001) return v.toExponential(2);
  return trim(v);
}

function trim(v: number): string {
  return String(Number(v.toPrecision(3)));
}

/** Parses a Prometheus sample value string ("NaN", "+Inf" included). */
export function parseSample(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

export const PALETTE = [
  '#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4',
  '#ec4899', '#84cc16', '#f97316', '#6366f1', '#14b8a6', '#eab308',
];

/** Units a panel can declare; each formats axis ticks and tooltip values. */
export type Unit = 'short' | 'bytes' | 'bytes/s' | 'seconds' | 'percent' | 'ops' | 'cores';

/** Returns the formatter for a unit. */
export function unitFormatter(unit: Unit = 'short'): (v: number | null | undefined) => string {
  switch (unit) {
    case 'bytes':
      return (v) => (v === null || v === undefined ? '—' : formatBytes(v));
    case 'bytes/s':
      return (v) => (v === null || v === undefined ? '—' : `${formatBytes(v)}/s`);
    case 'seconds':
      return formatSeconds;
    case 'percent':
      return (v) => (v === null || v === undefined ? '—' : `${trim(v * 100)}%`);
    case 'ops':
      return (v) => (v === null || v === undefined ? '—' : `${formatValue(v)}/s`);
    case 'cores':
      return (v) => (v === null || v === undefined ? '—' : formatValue(v));
    default:
      return formatValue;
  }
}

function formatBytes(v: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let a = Math.abs(v);
  let i = 0;
  while (a >= 1024 && i < units.length - 1) {
    a /= 1024;
    i++;
  }
  return `${v < 0 ? '-' : ''}${trim(a)} ${units[i]}`;
}

function formatSeconds(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 1e-3) return `${trim(v * 1e6)} µs`;
  if (a < 1) return `${trim(v * 1e3)} ms`;
  return `${trim(v)} s`;
}
