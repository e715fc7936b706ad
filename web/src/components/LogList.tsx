import { useEffect, useRef, useState } from 'react';
import type { LogRow } from '../logs/model';
import { hrefFor, onLinkClick } from '../router';

const ROW = 22;
const OVERSCAN = 20;

interface Props {
  rows: LogRow[];
  selected: string | null;
  onSelect: (key: string | null) => void;
}

/** Log lines, newest first, drawn virtually so tens of thousands stay smooth. */
export function LogList({ rows, selected, onSelect }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const [scroll, setScroll] = useState(0);
  const [height, setHeight] = useState(600);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scroll / ROW) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scroll + height) / ROW) + OVERSCAN);

  const onKey = (e: React.KeyboardEvent) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const i = rows.findIndex((r) => r.key === selected);
    const next = Math.min(rows.length - 1, Math.max(0, i + (e.key === 'ArrowDown' ? 1 : -1)));
    const r = rows[next];
    if (!r) return;
    onSelect(r.key);
    const el = box.current;
    if (el) {
      if (next * ROW < el.scrollTop) el.scrollTop = next * ROW;
      else if ((next + 1) * ROW > el.scrollTop + el.clientHeight) el.scrollTop = (next + 1) * ROW - el.clientHeight;
    }
  };

  return (
    <div
      className="log-list"
      ref={box}
      onScroll={(e) => setScroll(e.currentTarget.scrollTop)}
      tabIndex={0}
      onKeyDown={onKey}
      role="listbox"
      aria-label="Log lines"
    >
      <div style={{ height: rows.length * ROW, position: 'relative' }}>
        {rows.slice(first, last).map((r, k) => {
          const i = first + k;
          return (
            <div
              key={r.key}
              role="option"
              aria-selected={r.key === selected}
              className={`log-row lvl-row-${r.level}${r.key === selected ? ' selected' : ''}`}
              style={{ top: i * ROW }}
              onClick={() => onSelect(r.key === selected ? null : r.key)}
            >
              <span className={`lvl-bar lvl-${r.level}`} />
              <span className="log-time">{formatTime(r.ms)}</span>
              <span className={`log-level lvl-text-${r.level}`}>{r.level === 'unknown' ? '' : r.level}</span>
              <span className="log-line">{r.line}</span>
              {r.traceID && (
                <a
                  className="log-trace"
                  href={hrefFor(`/traces/${r.traceID}`)}
                  onClick={(e) => {
                    e.stopPropagation();
                    onLinkClick(e);
                  }}
                  title="Open this trace"
                >
                  trace
                </a>
              )}
            </div>
          );
        })}
      </div>
    </div>
  );
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
