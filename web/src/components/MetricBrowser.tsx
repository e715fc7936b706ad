import { useEffect, useMemo, useRef, useState } from 'react';
import { isAbort, labelValues, metadata, type MetricMetadata } from '../api';
import { ErrorBox } from './ErrorBox';

const MAX_ROWS = 300;

interface Props {
  onPick: (name: string) => void;
  onClose: () => void;
}

/** A searchable list of the server's metric names with their type and help. */
export function MetricBrowser({ onPick, onClose }: Props) {
  const [names, setNames] = useState<string[] | null>(null);
  const [meta, setMeta] = useState<Record<string, MetricMetadata[]>>({});
  const [error, setError] = useState<unknown>(null);
  const [filter, setFilter] = useState('');
  const [selected, setSelected] = useState(0);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const ac = new AbortController();
    labelValues('__name__', [], undefined, undefined, ac.signal).then(setNames, (err: unknown) => {
      if (!isAbort(err)) setError(err);
    });
    // Descriptions are a bonus: without metadata the names still list.
    metadata(ac.signal).then(setMeta, () => undefined);
    return () => ac.abort();
  }, []);

  useEffect(() => {
    const onDoc = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) onClose();
    };
    document.addEventListener('mousedown', onDoc);
    return () => document.removeEventListener('mousedown', onDoc);
  }, [onClose]);

  const matches = useMemo(() => {
    if (!names) return [];
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    return names.filter((n) => {
      const hay = (n + ' ' + (meta[n]?.[0]?.help ?? '')).toLowerCase();
      return words.every((w) => hay.includes(w));
    });
  }, [names, meta, filter]);

  useEffect(() => setSelected(0), [filter]);

  const onKey = (e: React.KeyboardEvent) => {
    if (e.key === 'Escape') onClose();
    else if (e.key === 'ArrowDown') {
      e.preventDefault();
      setSelected((s) => Math.min(s + 1, Math.min(matches.length, MAX_ROWS) - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setSelected((s) => Math.max(0, s - 1));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const m = matches[selected];
      if (m) onPick(m);
    }
  };

  return (
    <div className="popover metric-browser" ref={box} role="dialog" aria-label="Metric names">
      <div className="metric-browser-head">
        <input
          className="input"
          autoFocus
          placeholder="Search metric names and descriptions"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          onKeyDown={onKey}
          aria-label="Search metrics"
        />
        <span className="muted small">{names ? `${matches.length} of ${names.length}` : 'Loading…'}</span>
      </div>
      {error !== null && <ErrorBox error={error} title="Cannot list metrics" />}
      <ul className="metric-list" role="listbox">
        {matches.slice(0, MAX_ROWS).map((n, i) => {
          const m = meta[n]?.[0];
          return (
            <li
              key={n}
              role="option"
              aria-selected={i === selected}
              className={i === selected ? 'selected' : undefined}
              onMouseEnter={() => setSelected(i)}
              onMouseDown={(e) => {
                e.preventDefault();
                onPick(n);
              }}
            >
              <span className="metric-name">{n}</span>
              {m && <span className={`metric-type type-${m.type}`}>{m.type}</span>}
              {m?.help && <span className="metric-help">{m.help}</span>}
            </li>
          );
        })}
        {names && matches.length > MAX_ROWS && (
          <li className="metric-more muted">Refine the search to see the other {matches.length - MAX_ROWS}.</li>
        )}
        {names && matches.length === 0 && <li className="metric-more muted">No metric matches.</li>}
      </ul>
    </div>
  );
}
