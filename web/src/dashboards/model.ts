// Pure helpers for user dashboards: variable expansion in queries, the
// panel grid layout, units, and the blank panel the editor adds. The
// server stores and validates dashboards; this module only prepares them
// for drawing and editing.

import type { DashboardPanel, DashboardUnit, DashboardVariable, StoredDashboard } from '../api';
import { formatValue, unitFormatter } from '../format';
import { formatDuration } from '../time';

/** Columns of the panel grid (as in Grafana's gridPos). */
export const GRID_COLUMNS = 24;
/** Height of one grid row in pixels. */
export const GRID_ROW_PX = 30;
/** Gap between panels in pixels. */
export const GRID_GAP_PX = 10;

/** The value standing for "every value" of a variable with includeAll. */
export const ALL = '$__all';

/** Units offered in the editor, with the words shown for them. */
export const UNITS: { value: DashboardUnit; label: string }[] = [
  { value: 'short', label: 'Number' },
  { value: 'percent', label: 'Percent (0–1)' },
  { value: 'percent100', label: 'Percent (0–100)' },
  { value: 'seconds', label: 'Seconds' },
  { value: 'milliseconds', label: 'Milliseconds' },
  { value: 'bytes', label: 'Bytes' },
  { value: 'bytes/s', label: 'Bytes/s' },
  { value: 'ops', label: 'Per second' },
  { value: 'cores', label: 'CPU cores' },
];

/** Formats values of a panel's unit, including Grafana's ms and 0–100 percent. */
export function formatterFor(unit: DashboardUnit | undefined): (v: number | null | undefined) => string {
  switch (unit) {
    case 'milliseconds': {
      const sec = unitFormatter('seconds');
      return (v) => (v === null || v === undefined ? '—' : sec(v / 1000));
    }
    case 'percent100':
      return (v) => (v === null || v === undefined ? '—' : `${formatValue(v)}%`);
    case undefined:
    case '':
      return unitFormatter('short');
    default:
      return unitFormatter(unit);
  }
}

/** Escapes a value for a PromQL double-quoted string. */
function stringValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** What a query's variables stand for while a dashboard is drawn. */
export interface ExpandContext {
  /** Selected value per variable name (ALL for every value). */
  values: Record<string, string>;
  /** Query step in seconds. */
  step: number;
  /** Range length in seconds. */
  range: number;
}

/**
 * Expands $name, ${name} and [[name]] for dashboard variables and Grafana's
 * $__rate_interval, $__interval, $__range (and sightline's $__rate).
 * "All" becomes the regex .+; names that are not variables stay as written.
 */
export function expandExpr(expr: string, ctx: ExpandContext): string {
  const rate = formatDuration(Math.max(60, 4 * ctx.step));
  const builtins: Record<string, string> = {
    __rate: rate,
    __rate_interval: rate,
    __interval: formatDuration(Math.max(1, ctx.step)),
    __range: formatDuration(Math.max(1, Math.round(ctx.range))),
    __range_s: String(Math.round(ctx.range)),
  };
  return expr.replace(/\$\{([A-Za-z_]\w*)\}|\[\[([A-Za-z_]\w*)\]\]|\$([A-Za-z_]\w*)/g, (m, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    if (name in builtins) return builtins[name]!;
    if (!(name in ctx.values)) return m;
    const v = ctx.values[name]!;
    return v === ALL ? '.+' : stringValue(v);
  });
}

/** Picks a variable's value: the URL's if offered, else its default, else All or the first option. */
export function pickValue(v: DashboardVariable, fromURL: string | null, options: string[]): string {
  if (fromURL !== null && (fromURL === ALL ? v.includeAll : true)) return fromURL;
  if (v.default && (options.includes(v.default) || options.length === 0)) return v.default;
  if (v.includeAll) return ALL;
  return options[0] ?? '';
}

/** Parses label_values(selector, label) or label_values(label). */
export function parseLabelValues(q: string): { selector: string; label: string } | null {
  const m = /^\s*label_values\s*\(\s*(?:(.*?)\s*,\s*)?([A-Za-z_]\w*)\s*\)\s*$/.exec(q);
  return m ? { selector: m[1] ?? '', label: m[2]! } : null;
}

/**
 * Lays panels out in order, each at the highest free spot that fits its
 * width (leftmost on ties), keeping its width and height: a panel slides up
 * under a shorter neighbour the way Grafana's grid packs panels.
 */
export function flowLayout(panels: DashboardPanel[]): DashboardPanel[] {
  const tops = new Array<number>(GRID_COLUMNS).fill(0);
  return panels.map((p) => {
    const w = Math.min(GRID_COLUMNS, Math.max(1, p.gridPos.w || 12));
    const h = Math.max(1, p.gridPos.h || 8);
    let bestX = 0;
    let bestY = Infinity;
    for (let x = 0; x + w <= GRID_COLUMNS; x++) {
      const y = Math.max(...tops.slice(x, x + w));
      if (y < bestY) {
        bestY = y;
        bestX = x;
      }
    }
    for (let c = bestX; c < bestX + w; c++) tops[c] = bestY + h;
    return { ...p, gridPos: { x: bestX, y: bestY, w, h } };
  });
}

/** Panels in reading order (top to bottom, then left to right). */
export function readingOrder(panels: DashboardPanel[]): DashboardPanel[] {
  return [...panels].sort((a, b) => a.gridPos.y - b.gridPos.y || a.gridPos.x - b.gridPos.x || a.id - b.id);
}

/** A new panel for the editor, with an id not used in d. */
export function blankPanel(d: Pick<StoredDashboard, 'panels'>): DashboardPanel {
  const id = d.panels.reduce((m, p) => Math.max(m, p.id), 0) + 1;
  return { id, title: '', type: 'timeseries', unit: 'short', gridPos: { x: 0, y: 0, w: 12, h: 8 }, queries: [{ expr: '', legend: '' }] };
}

/** Width presets offered in the editor (in grid columns). */
export const WIDTHS: { w: number; label: string }[] = [
  { w: 6, label: '¼ width' },
  { w: 8, label: '⅓ width' },
  { w: 12, label: '½ width' },
  { w: 16, label: '⅔ width' },
  { w: 24, label: 'Full width' },
];

/** Height presets offered in the editor (in grid rows). */
export const HEIGHTS: { h: number; label: string }[] = [
  { h: 5, label: 'Short' },
  { h: 8, label: 'Medium' },
  { h: 12, label: 'Tall' },
];

/** The URL parameter holding a variable's selected value (Grafana's convention). */
export function varParam(name: string): string {
  return `var-${name}`;
}
