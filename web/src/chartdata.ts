// Turns Prometheus range-query results into the aligned arrays the chart draws.

import type { Labels, RangeSeries } from './api';
import type { ChartData } from './components/TimeSeriesChart';
import { PALETTE, parseSample } from './format';

export interface SeriesGroup {
  series: RangeSeries[];
  /** Names one series of this group in the legend and tooltip. */
  label: (metric: Labels) => string;
}

/**
 * Aligns the series of several range queries on one time axis. Prometheus
 * returns samples at start + k*step, so each sample lands in slot k; missing
 * samples stay null and show as gaps. At most max series are kept; truncated
 * says how many were left out.
 */
export function buildChart(
  groups: SeriesGroup[],
  start: number,
  end: number,
  step: number,
  max: number,
): { data: ChartData; truncated: number } {
  const n = Math.floor((end - start) / step) + 1;
  const x = Array.from({ length: n }, (_, k) => start + k * step);
  const series: ChartData['series'] = [];
  let total = 0;
  for (const g of groups) {
    for (const s of g.series) {
      total++;
      if (series.length >= max) continue;
      const values = new Array<number | null>(n).fill(null);
      for (const [t, v] of s.values ?? []) {
        const k = Math.round((t - start) / step);
        if (k >= 0 && k < n) {
          const f = parseSample(v);
          values[k] = Number.isFinite(f) ? f : null;
        }
      }
      for (const [t, h] of s.histograms ?? []) {
        // Native histograms are drawn by their observation count.
        const k = Math.round((t - start) / step);
        if (k >= 0 && k < n) values[k] = parseSample(h.count);
      }
      series.push({ label: g.label(s.metric), color: PALETTE[series.length % PALETTE.length] ?? '#3b82f6', values });
    }
  }
  return { data: { x, series }, truncated: Math.max(0, total - max) };
}

/** Fills a legend template such as "{{instance}} read" from a series' labels. */
export function applyLegend(template: string, metric: Labels): string {
  return template.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, name: string) => metric[name] ?? '');
}
