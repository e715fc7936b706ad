import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatValue } from '../format';
import { cssVar, useTheme } from '../theme';
import { formatDateTime } from '../time';

export interface ChartSeries {
  label: string;
  color: string;
  /** One value per timestamp of ChartData.x; null where the series has no sample. */
  values: (number | null)[];
}

export interface ChartData {
  x: number[]; // unix seconds
  series: ChartSeries[];
}

interface Props {
  data: ChartData;
  height?: number;
  /** Called with the range the user dragged across, in unix seconds. */
  onZoom?: (start: number, end: number) => void;
  /** Formats axis ticks and tooltip values (default: compact SI numbers). */
  format?: (v: number | null | undefined) => string;
  /** Legend under the chart (default true). */
  legend?: boolean;
}

/**
 * A time-series line chart drawn with uPlot: drag to zoom, hover for values,
 * click a legend entry to hide or show its series.
 */
export function TimeSeriesChart({ data, height = 320, onZoom, format = formatValue, legend = true }: Props) {
  const wrap = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const theme = useTheme();
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;

  useEffect(() => setHidden(new Set()), [data]);

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const axis = cssVar('--text-muted');
    const grid = cssVar('--grid');
    const font = '11px ' + (cssVar('--font-sans') || 'sans-serif');
    const tooltip = document.createElement('div');
    tooltip.className = 'chart-tooltip';
    tooltip.style.display = 'none';

    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      padding: [8, 12, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      select: { show: true, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: { time: true },
        // A flat series gets a small band around its value (all zeros: 0…1)
        // instead of uPlot's 0…100, which reads as 10000% on a ratio panel.
        y: {
          range: (_u, min, max): uPlot.Range.MinMax => {
            if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
            if (min === max) {
              const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
              return [min >= 0 && min - pad < 0 ? 0 : min - pad, max + pad];
            }
            return uPlot.rangeNum(min, max, 0.1, true);
          },
        },
      },
      axes: [
        { stroke: axis, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1, size: 4 } },
        {
          stroke: axis,
          font,
          // Wide enough for the longest tick label of this scale.
          size: (u, values) => {
            const longest = (values ?? []).reduce((m, v) => Math.max(m, String(v).length), 0);
            u.ctx.font = font;
            return Math.max(40, Math.ceil(u.ctx.measureText('0'.repeat(longest)).width) + 18);
          },
          grid: { stroke: grid, width: 1 },
          ticks: { show: false },
          values: (_u, vals) => vals.map((v) => format(v)),
        },
      ],
      series: [
        { label: 'time' },
        ...data.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          points: { show: false },
          spanGaps: false,
        })),
      ],
      hooks: {
        init: [
          (u) => {
            u.over.appendChild(tooltip);
          },
        ],
        setSelect: [
          (u) => {
            const w = u.select.width;
            if (w > 5 && zoomRef.current) {
              const a = u.posToVal(u.select.left, 'x');
              const b = u.posToVal(u.select.left + w, 'x');
              zoomRef.current(a, b);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [(u) => drawTooltip(u, tooltip, format)],
      },
    };
    const aligned: uPlot.AlignedData = [data.x, ...data.series.map((s) => s.values)];
    const plot = new uPlot(opts, aligned, el);
    plotRef.current = plot;

    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== plot.width) plot.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
      plotRef.current = null;
    };
  }, [data, height, theme, format]);

  const toggle = (i: number, solo: boolean) => {
    const plot = plotRef.current;
    if (!plot) return;
    let next: Set<number>;
    if (solo) {
      // Show only this series, or everything again if it already is alone.
      const alone = hidden.size === data.series.length - 1 && !hidden.has(i);
      next = alone ? new Set() : new Set(data.series.map((_, j) => j).filter((j) => j !== i));
    } else {
      next = new Set(hidden);
      if (next.has(i)) next.delete(i);
      else next.add(i);
    }
    plot.batch(() => data.series.forEach((_, j) => plot.setSeries(j + 1, { show: !next.has(j) })));
    setHidden(next);
  };

  return (
    <div className="chart">
      <div ref={wrap} className="chart-canvas" data-testid="chart" data-series={data.series.length} />
      {legend && data.series.length > 0 && (
        <ul className="legend" aria-label="Series">
          {data.series.map((s, i) => (
            <li key={i}>
              <button
                type="button"
                className={hidden.has(i) ? 'legend-item off' : 'legend-item'}
                onClick={(e) => toggle(i, !(e.ctrlKey || e.metaKey))}
                title="Click to show only this series, Ctrl+click to hide or show it"
              >
                <span className="swatch" style={{ background: s.color }} />
                <span className="legend-label">{s.label}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const TOOLTIP_ROWS = 8;

function drawTooltip(u: uPlot, el: HTMLDivElement, format: (v: number) => string): void {
  const idx = u.cursor.idx;
  const left = u.cursor.left ?? -1;
  const top = u.cursor.top ?? -1;
  if (idx === null || idx === undefined || left < 0) {
    el.style.display = 'none';
    return;
  }
  const rows: { label: string; color: string; v: number }[] = [];
  for (let i = 1; i < u.series.length; i++) {
    const s = u.series[i];
    if (!s || !s.show) continue;
    const v = u.data[i]?.[idx];
    if (v === null || v === undefined) continue;
    rows.push({ label: String(s.label ?? ''), color: String(typeof s.stroke === 'function' ? s.stroke(u, i) : s.stroke), v });
  }
  if (rows.length === 0) {
    el.style.display = 'none';
    return;
  }
  rows.sort((a, b) => b.v - a.v);
  el.replaceChildren();
  const head = document.createElement('div');
  head.className = 'chart-tooltip-time';
  head.textContent = formatDateTime(u.data[0][idx] ?? 0);
  el.appendChild(head);
  for (const r of rows.slice(0, TOOLTIP_ROWS)) {
    const row = document.createElement('div');
    row.className = 'chart-tooltip-row';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = r.color;
    const lab = document.createElement('span');
    lab.className = 'chart-tooltip-label';
    lab.textContent = r.label;
    const val = document.createElement('span');
    val.className = 'chart-tooltip-value';
    val.textContent = format(r.v);
    row.append(sw, lab, val);
    el.appendChild(row);
  }
  if (rows.length > TOOLTIP_ROWS) {
    const more = document.createElement('div');
    more.className = 'chart-tooltip-more';
    more.textContent = `+${rows.length - TOOLTIP_ROWS} more`;
    el.appendChild(more);
  }
  el.style.display = 'block';
  const w = el.offsetWidth;
  const h = el.offsetHeight;
  const overW = u.over.clientWidth;
  const overH = u.over.clientHeight;
  const x = left + 16 + w > overW ? left - w - 16 : left + 16;
  const y = Math.min(Math.max(0, top - h / 2), Math.max(0, overH - h));
  el.style.transform = `translate(${Math.max(0, x)}px, ${y}px)`;
}
