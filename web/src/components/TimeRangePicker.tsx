import { useEffect, useRef, useState } from 'react';
import { setParams } from '../router';
import {
  QUICK_RANGES,
  describeRange,
  resolveTime,
  toLocalInput,
  type RangeSpec,
} from '../time';

/** The time range button of the top bar with quick ranges and a custom range form. */
export function TimeRangePicker({ range }: { range: RangeSpec }) {
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const [err, setErr] = useState('');
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    setFrom(range.from);
    setTo(range.to);
    setErr('');
    const onDoc = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setOpen(false);
    };
    document.addEventListener('mousedown', onDoc);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDoc);
      document.removeEventListener('keydown', onKey);
    };
  }, [open, range.from, range.to]);

  const pick = (f: string, t: string) => {
    setParams({ from: f, to: t }, true);
    setOpen(false);
  };

  const apply = (e: React.FormEvent) => {
    e.preventDefault();
    const now = Date.now() / 1000;
    const norm = (s: string) => {
      // datetime-local values have no zone: read them as local time.
      if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s)) {
        const t = new Date(s).getTime();
        return Number.isNaN(t) ? s : String(t);
      }
      return s.trim();
    };
    const f = norm(from);
    const t = norm(to);
    const fs = resolveTime(f, now);
    const ts = resolveTime(t, now);
    if (Number.isNaN(fs)) return setErr(`cannot read "${from}"`);
    if (Number.isNaN(ts)) return setErr(`cannot read "${to}"`);
    if (fs >= ts) return setErr('the start must be before the end');
    pick(f, t);
  };

  const now = Date.now() / 1000;
  const asInput = (s: string) => {
    const t = resolveTime(s, now);
    return Number.isNaN(t) ? '' : toLocalInput(t);
  };

  return (
    <div className="picker" ref={box}>
      <button
        type="button"
        className="btn picker-button"
        aria-haspopup="dialog"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        title="Time range"
      >
        <ClockIcon />
        <span>{describeRange(range)}</span>
      </button>
      {open && (
        <div className="popover range-popover" role="dialog" aria-label="Time range">
          <div className="range-quick">
            {QUICK_RANGES.map((q) => (
              <button
                key={q.from}
                type="button"
                className={`menu-item${range.from === q.from && range.to === 'now' ? ' active' : ''}`}
                onClick={() => pick(q.from, 'now')}
              >
                {q.label}
              </button>
            ))}
          </div>
          <form className="range-custom" onSubmit={apply}>
            <div className="range-custom-title">Custom range</div>
            <label>
              From
              <input className="input" value={from} onChange={(e) => setFrom(e.target.value)} placeholder="now-2h" />
            </label>
            <input
              className="input"
              type="datetime-local"
              step="1"
              aria-label="From date"
              value={asInput(from)}
              onChange={(e) => setFrom(e.target.value)}
            />
            <label>
              To
              <input className="input" value={to} onChange={(e) => setTo(e.target.value)} placeholder="now" />
            </label>
            <input
              className="input"
              type="datetime-local"
              step="1"
              aria-label="To date"
              value={asInput(to)}
              onChange={(e) => setTo(e.target.value)}
            />
            {err && <div className="field-error">{err}</div>}
            <button type="submit" className="btn primary">
              Apply
            </button>
            <div className="hint">Relative: now-30m, now-2d · absolute: pick a date</div>
          </form>
        </div>
      )}
    </div>
  );
}

function ClockIcon() {
  return (
    <svg width="14" height="14" viewBox="0 0 16 16" aria-hidden="true">
      <circle cx="8" cy="8" r="6.25" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
    </svg>
  );
}
