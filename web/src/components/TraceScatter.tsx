import { useEffect, useRef, useState } from 'react';
import { formatDateTime } from '../time';
import { formatMicros } from '../traces/model';

export interface ScatterPoint {
  id: string;
  time: number; // unix seconds
  duration: number; // µs
  error: boolean;
  label: string;
}

interface Props {
  points: ScatterPoint[];
  start: number;
  end: number;
  onPick: (id: string) => void;
}

const H = 180;
const PAD = { left: 64, right: 16, top: 12, bottom: 26 };

/** Found traces as dots by start time (x) and duration (y); errors in red. Click opens a trace. */
export function TraceScatter({ points, start, end, onPick }: Props) {
  const wrap = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  const [hover, setHover] = useState<ScatterPoint | null>(null);

  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(300, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const maxDur = Math.max(1, ...points.map((p) => p.duration)) * 1.1;
  const plotW = width - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + ((t - start) / Math.max(1e-9, end - start)) * plotW;
  const y = (d: number) => PAD.top + plotH - (d / maxDur) * plotH;
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * maxDur);
  const xTicks = Array.from({ length: 6 }, (_, i) => start + ((end - start) * i) / 5);

  return (
    <div className="scatter" ref={wrap}>
      <svg width={width} height={H} role="img" aria-label="Traces by start time and duration">
        {yTicks.map((d) => (
          <g key={d}>
            <line x1={PAD.left} x2={width - PAD.right} y1={y(d)} y2={y(d)} className="grid-line" />
            <text x={PAD.left - 8} y={y(d) + 4} textAnchor="end" className="axis-text">
              {formatMicros(d)}
            </text>
          </g>
        ))}
        {xTicks.map((t, i) => (
          <text key={i} x={x(t)} y={H - 8} textAnchor={i === 0 ? 'start' : i === 5 ? 'end' : 'middle'} className="axis-text">
            {formatDateTime(t).slice(11, 19)}
          </text>
        ))}
        {points.map((p) => (
          <circle
            key={p.id}
            cx={x(p.time)}
            cy={y(p.duration)}
            r={hover?.id === p.id ? 6 : 4.5}
            className={p.error ? 'dot dot-error' : 'dot'}
            onMouseEnter={() => setHover(p)}
            onMouseLeave={() => setHover(null)}
            onClick={() => onPick(p.id)}
          >
            <title>{`${p.label} · ${formatMicros(p.duration)}${p.error ? ' · error' : ''}`}</title>
          </circle>
        ))}
      </svg>
      {hover && (
        <div className="scatter-hover" style={{ left: Math.min(x(hover.time) + 10, width - 260), top: y(hover.duration) - 10 }}>
          <div>{hover.label}</div>
          <div className="muted">
            {formatMicros(hover.duration)} · {formatDateTime(hover.time)}
          </div>
        </div>
      )}
    </div>
  );
}
