// The waterfall of one trace, virtualised: only the rows in (and just
// around) the scroll viewport are in the DOM, so a trace of many thousand
// spans scrolls as smoothly as one of ten. Rows have a fixed height; the one
// open span's details have a measured height, so every row's offset is
// known without rendering it.

import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { hrefFor, onLinkClick } from '../router';
import { formatMicros, kvText, serviceColor, type SpanNode, type TraceModel } from './model';
import './traces.css';

/** Height of one span row in pixels (matches .wf-row in styles.css). */
export const ROW_HEIGHT = 28;
/** Rows rendered above and below the viewport, so fast scrolling shows no gaps. */
const OVERSCAN = 12;
/** Assumed height of span details until they are measured. */
const DETAILS_GUESS = 320;

interface Props {
  trace: TraceModel;
}

/** Where rows sit when row `open` (or none, -1) has details of height `detailsH` under it. */
export interface RowLayout {
  count: number;
  open: number;
  detailsH: number;
}

/** Top offset of row i (i may be count, giving the total height). */
export function rowOffset(l: RowLayout, i: number): number {
  return i * ROW_HEIGHT + (l.open >= 0 && i > l.open ? l.detailsH : 0);
}

/** Index of the row at vertical position y (clamped to the rows). */
export function rowAt(l: RowLayout, y: number): number {
  if (l.count === 0) return 0;
  let i: number;
  if (l.open < 0 || y < (l.open + 1) * ROW_HEIGHT) i = Math.floor(y / ROW_HEIGHT);
  else if (y < (l.open + 1) * ROW_HEIGHT + l.detailsH) i = l.open;
  else i = Math.floor((y - l.detailsH) / ROW_HEIGHT);
  return Math.max(0, Math.min(l.count - 1, i));
}

/** The spans of a trace on a time axis, collapsible by subtree, with span details on click. */
export function TraceWaterfall({ trace }: Props) {
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const [criticalOnly, setCriticalOnly] = useState(false);
  const scroller = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  const [detailsH, setDetailsH] = useState(DETAILS_GUESS);

  const visible = useMemo(() => {
    const out: SpanNode[] = [];
    const hiddenUnder = new Set<string>();
    for (const r of trace.rows) {
      if (r.parentID && (hiddenUnder.has(r.parentID) || collapsed.has(r.parentID))) {
        hiddenUnder.add(r.span.spanID);
        continue;
      }
      if (criticalOnly && !r.critical) continue;
      out.push(r);
    }
    return out;
  }, [trace, collapsed, criticalOnly]);

  // Follow the viewport: scroll position (once per frame) and size.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    let frame = 0;
    const read = () => {
      frame = 0;
      setView((v) => (v.top === el.scrollTop && v.height === el.clientHeight ? v : { top: el.scrollTop, height: el.clientHeight }));
    };
    const onScroll = () => {
      if (!frame) frame = requestAnimationFrame(read);
    };
    read();
    el.addEventListener('scroll', onScroll, { passive: true });
    const ro = new ResizeObserver(onScroll);
    ro.observe(el);
    return () => {
      el.removeEventListener('scroll', onScroll);
      ro.disconnect();
      if (frame) cancelAnimationFrame(frame);
    };
  }, []);

  useEffect(() => {
    setCollapsed(new Set());
    setOpen(null);
    if (scroller.current) scroller.current.scrollTop = 0;
  }, [trace]);

  // Measures the open span's details as they render and whenever they resize.
  const detailsObserver = useRef<ResizeObserver | null>(null);
  const justOpened = useRef(false);
  const toggleOpen = (id: string, isOpen: boolean) => {
    justOpened.current = !isOpen;
    setOpen(isOpen ? null : id);
  };
  const detailsRef = useCallback((el: HTMLDivElement | null) => {
    detailsObserver.current?.disconnect();
    detailsObserver.current = null;
    if (!el) return;
    const measure = () => setDetailsH(Math.max(1, Math.round(el.getBoundingClientRect().height)));
    measure();
    // Opening a span near the bottom of the viewport brings its details into
    // view; details remounting as the user scrolls back to them do not jump.
    if (justOpened.current) {
      justOpened.current = false;
      el.scrollIntoView({ block: 'nearest' });
    }
    detailsObserver.current = new ResizeObserver(measure);
    detailsObserver.current.observe(el);
  }, []);
  useEffect(() => () => detailsObserver.current?.disconnect(), []);

  const openIndex = open === null ? -1 : visible.findIndex((r) => r.span.spanID === open);
  const layout: RowLayout = { count: visible.length, open: openIndex, detailsH };
  const first = Math.max(0, rowAt(layout, view.top) - OVERSCAN);
  const last = Math.min(visible.length - 1, rowAt(layout, view.top + view.height) + OVERSCAN);
  const padTop = rowOffset(layout, first);
  const padBottom = Math.max(0, rowOffset(layout, visible.length) - rowOffset(layout, last + 1));

  const total = Math.max(1, trace.duration);
  const ticks = [0, 0.25, 0.5, 0.75, 1];

  const toggle = (id: string) =>
    setCollapsed((c) => {
      const n = new Set(c);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  const rows: React.ReactNode[] = [];
  for (let i = first; i <= last; i++) {
    const r = visible[i]!;
    const id = r.span.spanID;
    const left = (r.offset / total) * 100;
    const width = Math.max(0.2, (r.span.duration / total) * 100);
    const isOpen = i === openIndex;
    rows.push(
      <div
        key={id}
        className={`wf-row${r.error ? ' error' : ''}${isOpen ? ' open' : ''}`}
        role="treeitem"
        aria-level={r.depth + 1}
        aria-expanded={r.children.length ? !collapsed.has(id) : undefined}
        aria-selected={isOpen}
        aria-posinset={i + 1}
        aria-setsize={visible.length}
        data-span-id={id}
      >
        <div className="wf-name" style={{ paddingLeft: 8 + Math.min(r.depth, 40) * 14 }}>
          {r.children.length > 0 ? (
            <button type="button" className="wf-toggle" aria-label={collapsed.has(id) ? 'Expand' : 'Collapse'} onClick={() => toggle(id)}>
              {collapsed.has(id) ? '▸' : '▾'}
            </button>
          ) : (
            <span className="wf-toggle-space" />
          )}
          <span className="svc-dot" style={{ background: serviceColor(r.service) }} />
          <button type="button" className="wf-label" onClick={() => toggleOpen(id, isOpen)}>
            <span className="wf-service">{r.service}</span>
            <span className="wf-op">{r.span.operationName}</span>
            {r.error && <span className="badge badge-error wf-badge">error</span>}
          </button>
        </div>
        <div className="wf-timeline" onClick={() => toggleOpen(id, isOpen)}>
          {ticks.slice(1, -1).map((f) => (
            <span key={f} className="wf-grid" style={{ left: `${f * 100}%` }} />
          ))}
          <span
            className={`wf-bar${r.critical ? ' critical' : ''}`}
            style={{ left: `${left}%`, width: `${width}%`, background: r.error ? 'var(--danger)' : serviceColor(r.service) }}
          />
          <span className="wf-dur" style={left + width > 80 ? { right: `${100 - left + 0.5}%` } : { left: `${left + width + 0.5}%` }}>
            {formatMicros(r.span.duration)}
          </span>
        </div>
      </div>,
    );
    if (isOpen) {
      rows.push(
        <div key={`${id}-details`} ref={detailsRef} className="wf-details-slot">
          <SpanDetails node={r} trace={trace} />
        </div>,
      );
    }
  }

  return (
    <div className="waterfall">
      <div className="waterfall-tools">
        <label className="check">
          <input type="checkbox" checked={criticalOnly} onChange={(e) => setCriticalOnly(e.target.checked)} />
          Critical path only
        </label>
        <button type="button" className="btn small-btn" onClick={() => setCollapsed(new Set())}>
          Expand all
        </button>
        <button
          type="button"
          className="btn small-btn"
          onClick={() => setCollapsed(new Set(trace.rows.filter((r) => r.depth >= 1 && r.children.length).map((r) => r.span.spanID)))}
        >
          Collapse to depth 1
        </button>
        <span className="muted small" data-testid="wf-shown">
          {visible.length === trace.rows.length ? `${visible.length} spans` : `${visible.length} of ${trace.rows.length} spans shown`}
        </span>
        <span className="spacer" />
        <span className="legend-inline">
          bars in the service's colour: <span className="crit-mark" /> solid on the critical path <span className="crit-mark off" /> faded off it{' '}
          <span className="err-mark" /> error
        </span>
      </div>
      <div className="waterfall-head wf-gutter">
        <div className="wf-name">Service · operation</div>
        <div className="wf-timeline">
          {ticks.map((f) => (
            <span key={f} className="wf-tick" style={{ left: `${f * 100}%` }}>
              {f === 0 ? '0' : formatMicros(f * trace.duration)}
            </span>
          ))}
        </div>
      </div>
      <div className="waterfall-body wf-scroll wf-gutter" role="tree" aria-label="Spans" ref={scroller}>
        <div style={{ height: padTop }} aria-hidden="true" />
        {rows}
        <div style={{ height: padBottom }} aria-hidden="true" />
      </div>
    </div>
  );
}

function SpanDetails({ node, trace }: { node: SpanNode; trace: TraceModel }) {
  const s = node.span;
  const startS = (trace.start + node.offset) / 1e6;
  const logsHref = hrefFor('/logs', {
    traceID: trace.traceID,
    spanID: s.spanID,
    from: String(Math.floor(startS * 1000) - 60_000),
    to: String(Math.ceil((startS + s.duration / 1e6) * 1000) + 60_000),
  });
  return (
    <div className="span-details">
      <div className="span-details-head">
        <strong>{s.operationName}</strong>
        <span className="muted">
          {node.service} · {formatMicros(s.duration)} · starts at +{formatMicros(node.offset)} · span{' '}
          <span className="mono">{s.spanID}</span>
        </span>
        <span className="spacer" />
        <a className="btn small-btn" href={logsHref} onClick={onLinkClick}>
          Logs of this span
        </a>
      </div>
      <div className="span-details-grid">
        <KVTable title="Attributes" items={(s.tags ?? []).map((t) => [t.key, kvText(t)])} />
        <KVTable title="Resource" items={node.resource.map((t) => [t.key, kvText(t)])} />
      </div>
      {(s.logs ?? []).length > 0 && (
        <div className="span-section">
          <div className="span-section-title">Events</div>
          <ul className="span-events">
            {(s.logs ?? []).map((l, i) => (
              <li key={i}>
                <span className="muted mono">+{formatMicros(l.timestamp - s.startTime)}</span>{' '}
                {l.fields.map((f) => (
                  <span className="chip" key={f.key}>
                    {f.key}=<b>{kvText(f)}</b>
                  </span>
                ))}
              </li>
            ))}
          </ul>
        </div>
      )}
      {(s.references ?? []).filter((r) => r.refType !== 'CHILD_OF' || r.traceID !== s.traceID).length > 0 && (
        <div className="span-section">
          <div className="span-section-title">Links</div>
          <ul className="span-events">
            {(s.references ?? [])
              .filter((r) => r.refType !== 'CHILD_OF' || r.traceID !== s.traceID)
              .map((r, i) => (
                <li key={i}>
                  {r.refType.toLowerCase().replace('_', ' ')}{' '}
                  <a href={hrefFor(`/traces/${r.traceID}`)} onClick={onLinkClick} className="mono">
                    {r.traceID}/{r.spanID}
                  </a>
                </li>
              ))}
          </ul>
        </div>
      )}
      {(s.warnings ?? []).length > 0 && <div className="warning-box flush">{(s.warnings ?? []).join('; ')}</div>}
    </div>
  );
}

function KVTable({ title, items }: { title: string; items: [string, string][] }) {
  return (
    <div className="span-section">
      <div className="span-section-title">{title}</div>
      {items.length === 0 ? (
        <div className="muted small">none</div>
      ) : (
        <table className="kv-table">
          <tbody>
            {items.map(([k, v], i) => (
              <tr key={i}>
                <td className="kv-key">{k}</td>
                <td className="kv-value">{v}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
