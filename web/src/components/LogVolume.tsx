import { useEffect, useRef, useState } from 'react';
import { formatValue } from '../format';
import type { Level } from '../logs/model';
import { formatDateTime, formatTimeTick, tickSpacing } from '../time';

export interface VolumeSeries {
  level: Level;
  /** Count per bucket, aligned with the buckets of LogVolume. */
  counts: number[];
}

interface Props {
  start: number; // unix seconds of the first bucket
  step: number; // seconds per bucket
  buckets: number;
  series: VolumeSeries[];
  onZoom: (start: number, end: number) => void;
}

const H = 110;
const PAD = { left: 52, right: 12, top: 8, bottom: 20 };

/** Log volume over time as bars stacked by level; drag across it to zoom in. */
export function LogVolume({ start, step, buckets, series, onZoom }: Props) {
  const wrap = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(900);
  const [drag, setDrag] = useState<{ a: number; b: number } | null>(null);
  const [hover, setHover] = useState<number | null>(null);

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(300, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const totals = Array.from({ length: buckets }, (_, i) => series.reduce((n, s) => n + (s.counts[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const plotW = width - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const bw = plotW / Math.max(1, buckets);
  const xOf = (i: number) => PAD.left + i * bw;
  const yOf = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const bucketAt = (clientX: number) => {
    const r = wrap.current?.getBoundingClientRect();
    if (!r) return 0;
    return Math.min(buckets - 1, Math.max(0, Math.floor((clientX - r.left - PAD.left) / bw)));
  };

  const onUp = () => {
    if (drag) {
      const lo = Math.min(drag.a, drag.b);
      const hi = Math.max(drag.a, drag.b);
      if (hi > lo) onZoom(start + lo * step, start + (hi + 1) * step);
    }
    setDrag(null);
  };

  // Labels on round times (…:10, …:20) at least ~110 px apart.
  const spacing = tickSpacing(step, (Math.max(1, buckets) / Math.max(2, Math.floor(plotW / 110))) * step);
  const isTick = (i: number) => Math.round(start + i * step) % spacing === 0;

  return (
    <div className="volume" ref={wrap} onMouseLeave={() => { setHover(null); setDrag(null); }}>
      <svg
        width={width}
        height={H}
        role="img"
        aria-label="Log volume by level"
        onMouseDown={(e) => {
          const i = bucketAt(e.clientX);
          setDrag({ a: i, b: i });
        }}
        onMouseMove={(e) => {
          const i = bucketAt(e.clientX);
          setHover(i);
          if (drag) setDrag({ ...drag, b: i });
        }}
        onMouseUp={onUp}
      >
        {[0.5, 1].map((f) => (
          <g key={f}>
            <line x1={PAD.left} x2={width - PAD.right} y1={yOf(max * f)} y2={yOf(max * f)} className="grid-line" />
            <text x={PAD.left - 6} y={yOf(max * f) + 4} textAnchor="end" className="axis-text">
              {formatValue(max * f)}
            </text>
          </g>
        ))}
        {totals.map((_, i) => {
          let acc = 0;
          return (
            <g key={i}>
              {series.map((s) => {
                const v = s.counts[i] ?? 0;
                if (v <= 0) return null;
                const y0 = yOf(acc);
                acc += v;
                const y1 = yOf(acc);
                return (
                  <rect
                    key={s.level}
                    x={xOf(i) + (bw > 4 ? 1 : 0)}
                    width={Math.max(1, bw - (bw > 4 ? 2 : 0))}
                    y={y1}
                    height={Math.max(0.5, y0 - y1)}
                    className={`vol-${s.level}`}
                  />
                );
              })}
            </g>
          );
        })}
        {totals.map((_, i) =>
          isTick(i) ? (
            <text key={`t${i}`} x={xOf(i)} y={H - 5} className="axis-text">
              {formatTimeTick(start + i * step, spacing)}
            </text>
          ) : null,
        )}
        {drag && (
          <rect
            className="vol-select"
            x={xOf(Math.min(drag.a, drag.b))}
            width={(Math.abs(drag.b - drag.a) + 1) * bw}
            y={PAD.top}
            height={plotH}
          />
        )}
      </svg>
      {hover !== null && !drag && (totals[hover] ?? 0) > 0 && (
        <div className="volume-hover" style={{ left: Math.min(xOf(hover) + bw + 8, width - 200) }}>
          <div className="muted">{formatDateTime(start + hover * step)}</div>
          {series
            .filter((s) => (s.counts[hover] ?? 0) > 0)
            .map((s) => (
              <div key={s.level} className="volume-hover-row">
                <span className={`lvl-dot lvl-${s.level}`} /> {s.level} <b>{s.counts[hover]}</b>
              </div>
            ))}
        </div>
      )}
    </div>
  );
}
