import { useEffect, useMemo, useRef, useState } from 'react';
import {
  ApiError,
  isAbort,
  lokiLabels,
  lokiQueryRange,
  lokiTailURL,
  type LokiStream,
  type RangeSeries,
} from '../api';
import type { PageProps } from '../App';
import { applyLegend, buildChart } from '../chartdata';
import { ErrorBox, WarningBox } from '../components/ErrorBox';
import { LogList } from '../components/LogList';
import { LogVolume, type VolumeSeries } from '../components/LogVolume';
import { PendingApi } from '../components/PendingApi';
import { PromQLEditor } from '../components/PromQLEditor';
import { TimeSeriesChart } from '../components/TimeSeriesChart';
import { seriesName } from '../format';
import { suggestLogQL } from '../logs/completion';
import { LEVELS, addFilter, isMetricQuery, normaliseLevel, toRows, volumeQuery, type Level, type LogRow } from '../logs/model';
import { hrefFor, onLinkClick, setParams } from '../router';
import { autoStep, formatDuration, resolveRange } from '../time';

const LIMITS = ['100', '500', '1000', '5000'];
const DEFAULT_LIMIT = '1000';

/** Logs explorer over the Loki API: LogQL, volume by level, lines and their fields, live tail. */
export function LogsPage(props: PageProps) {
  const [status, setStatus] = useState<'probing' | 'ok' | number>('probing');
  const tenant = props.params.get('tenant') ?? '';

  useEffect(() => {
    const ac = new AbortController();
    lokiLabels(undefined, undefined, ac.signal).then(
      () => setStatus('ok'),
      (err: unknown) => {
        if (isAbort(err)) return;
        // Any other failure is shown by the explorer itself on its first query.
        setStatus(err instanceof ApiError && err.status === 404 ? 404 : 'ok');
      },
    );
    return () => ac.abort();
  }, [tenant]);

  if (status === 'probing') return null;
  if (status !== 'ok') return <LogsPending status={status} />;
  return <LogsExplorer {...props} />;
}

function LogsPending({ status }: { status: number }) {
  return (
    <PendingApi
      summary={`Search logs with LogQL, see their volume over time by level, and follow a trace id from a line to its trace. This server answered HTTP ${status} to GET /loki/api/v1/labels.`}
      endpoints={[
        'GET /loki/api/v1/query_range',
        'GET /loki/api/v1/labels, /label/{name}/values',
        'WS /loki/api/v1/tail',
      ]}
      features={[
        { title: 'LogQL editor', text: 'Completion of stream labels and their values, pipeline stages and functions.' },
        { title: 'Volume histogram', text: 'Log volume over the time range stacked by level; drag across it to zoom.' },
        { title: 'Log lines', text: 'Newest first, coloured by level, with every field; click a value to filter on it.' },
        { title: 'Live tail and trace links', text: 'Follow new lines as they arrive; a trace id in a line opens that trace.' },
      ]}
    />
  );
}

interface VolumeState {
  start: number;
  step: number;
  buckets: number;
  series: VolumeSeries[];
}

function LogsExplorer({ params, range, refreshKey }: PageProps) {
  const traceParam = params.get('traceID') ?? '';
  const q = params.get('q') ?? '';
  const limit = params.get('limit') ?? DEFAULT_LIMIT;
  const tenant = params.get('tenant') ?? '';
  const [draft, setDraft] = useState(q);
  const [runNonce, setRunNonce] = useState(0);
  const [rows, setRows] = useState<LogRow[] | null>(null);
  const streamNamesRef = useRef<ReadonlySet<string> | null>(null);
  const [matrix, setMatrix] = useState<{ series: RangeSeries[]; start: number; end: number; step: number } | null>(null);
  const [volume, setVolume] = useState<VolumeState | null>(null);
  const [volumeError, setVolumeError] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [warnings, setWarnings] = useState<string[]>([]);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [hiddenLevels, setHiddenLevels] = useState<Set<Level>>(new Set());
  const [live, setLive] = useState(false);
  const [liveError, setLiveError] = useState('');
  const [tookMs, setTookMs] = useState(0);

  useEffect(() => setDraft(q), [q]);

  // Arriving from a trace: search every stream for the trace id.
  useEffect(() => {
    if (traceParam && !q) setParams({ q: `{service_name=~".+"} |= "${traceParam}"`, traceID: null });
  }, [traceParam, q]);

  const run = (text = draft) => {
    setParams({ q: text.trim() || null }, text.trim() !== q);
    setRunNonce((n) => n + 1);
  };

  useEffect(() => {
    if (!q) {
      setRows(null);
      setMatrix(null);
      setVolume(null);
      setError(null);
      return;
    }
    let r;
    try {
      r = resolveRange(range);
    } catch (err) {
      setError(err);
      return;
    }
    const ac = new AbortController();
    const t0 = performance.now();
    setLoading(true);
    setError(null);
    if (isMetricQuery(q)) {
      const step = autoStep(r);
      lokiQueryRange({ query: q, start: r.start, end: r.end, step }, ac.signal).then(
        (res) => {
          setRows(null);
          setVolume(null);
          setMatrix(res.data.resultType === 'matrix' ? { series: res.data.result, start: r.start, end: r.end, step } : null);
          setWarnings(res.warnings);
          setTookMs(performance.now() - t0);
          setLoading(false);
        },
        (err: unknown) => {
          if (isAbort(err)) return;
          setError(err);
          setLoading(false);
        },
      );
      return () => ac.abort();
    }
    setMatrix(null);
    // The stream label names tell a line's stream labels from its parsed
    // fields and metadata, which the result merges into one label set.
    const names = lokiLabels(r.start, r.end, ac.signal).then(
      (n) => new Set(n),
      () => null,
    );
    Promise.all([
      lokiQueryRange({ query: q, start: r.start, end: r.end, limit: Number(limit), direction: 'backward' }, ac.signal),
      names,
    ]).then(
      ([res, streamNames]) => {
        const streams: LokiStream[] = res.data.resultType === 'streams' ? res.data.result : [];
        streamNamesRef.current = streamNames;
        setRows(toRows(streams, streamNames));
        setWarnings(res.warnings);
        setTookMs(performance.now() - t0);
        setLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setError(err);
        setLoading(false);
      },
    );
    const step = autoStep(r, 120);
    const start = Math.floor(r.start / step) * step;
    const buckets = Math.floor((r.end - start) / step) + 1;
    lokiQueryRange({ query: volumeQuery(q, step), start, end: r.end, step }, ac.signal).then(
      (res) => {
        setVolume(toVolume(res.data.resultType === 'matrix' ? res.data.result : [], start, step, buckets));
        setVolumeError(null);
      },
      (err: unknown) => {
        if (!isAbort(err)) setVolumeError(err);
      },
    );
    return () => ac.abort();
  }, [q, limit, range.from, range.to, refreshKey, runNonce, tenant]);

  // Live tail: new lines arrive over a WebSocket and go on top.
  const wsRef = useRef<WebSocket | null>(null);
  useEffect(() => {
    if (!live || !q || isMetricQuery(q)) return;
    setLiveError('');
    const ws = new WebSocket(lokiTailURL(q, Date.now() / 1000, 100));
    wsRef.current = ws;
    ws.onmessage = (ev) => {
      try {
        const msg = JSON.parse(String(ev.data)) as { streams?: LokiStream[] };
        const fresh = toRows(msg.streams ?? [], streamNamesRef.current).map((r) => ({ ...r, key: `live:${r.ns}:${r.key}` }));
        if (fresh.length) setRows((old) => [...fresh, ...(old ?? [])].slice(0, Number(limit)));
      } catch (err) {
        setLiveError(`cannot read a live tail message: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    ws.onclose = (ev) => {
      if (wsRef.current === ws) {
        setLive(false);
        setLiveError(`live tail closed by the server (code ${ev.code}${ev.reason ? ': ' + ev.reason : ''})`);
      }
    };
    return () => {
      wsRef.current = null;
      ws.close();
    };
  }, [live, q, limit]);

  const shown = useMemo(() => (rows ?? []).filter((r) => !hiddenLevels.has(r.level)), [rows, hiddenLevels]);
  const levelCounts = useMemo(() => {
    const c = new Map<Level, number>();
    for (const r of rows ?? []) c.set(r.level, (c.get(r.level) ?? 0) + 1);
    return c;
  }, [rows]);
  const sel = shown.find((r) => r.key === selected) ?? null;

  const filterOn = (key: string, value: string, stream: boolean) => {
    const next = key === '__line__' ? `${q.trim()} |= "${value}"` : addFilter(q, key, value, stream);
    setDraft(next);
    run(next);
  };

  return (
    <div className="page logs-page">
      <section className="card query-card" aria-label="Log query">
        <div className="query-row">
          <div className="query-main">
            <PromQLEditor
              value={draft}
              label="LogQL query"
              tenant={tenant}
              suggester={suggestLogQL}
              autoFocus={draft === ''}
              placeholder='LogQL, e.g. {service_name="checkout"} |= "error" | json   — Enter runs, Ctrl+Space completes'
              onChange={setDraft}
              onRun={() => run()}
            />
          </div>
          <select
            className="select"
            value={limit}
            aria-label="Line limit"
            title="Most lines to fetch"
            onChange={(e) => setParams({ limit: e.target.value === DEFAULT_LIMIT ? null : e.target.value }, true)}
          >
            {LIMITS.map((l) => (
              <option key={l} value={l}>
                {l} lines
              </option>
            ))}
          </select>
          <button
            type="button"
            className={live ? 'btn live on' : 'btn live'}
            onClick={() => setLive((v) => !v)}
            disabled={!q || isMetricQuery(q)}
            aria-pressed={live}
            title="Follow new lines as they arrive"
          >
            <span className="live-dot" /> Live
          </button>
          <button type="button" className="btn primary" onClick={() => run()} data-testid="run-logs">
            Run query
          </button>
        </div>
      </section>

      {error !== null && <ErrorBox error={error} title="Log query failed" />}
      {liveError && <ErrorBox error={new Error(liveError)} title="Live tail" />}
      <WarningBox warnings={warnings} />

      {!q && (
        <div className="card empty-state">
          <h2>Search your logs</h2>
          <p>
            Start with a stream selector in braces — completion lists the labels and their values — then add filters such as{' '}
            <code>|= "timeout"</code> or parsers such as <code>| json</code>. A query like{' '}
            <code>sum by (level) (rate({'{…}'}[5m]))</code> draws a graph instead.
          </p>
        </div>
      )}

      {matrix && (
        <section className="card" aria-label="Metric result">
          <div className="card-head">
            <h2>Metric query</h2>
            {loading && <span className="spinner" aria-label="Loading" />}
            <span className="spacer" />
            <span className="muted small">
              {matrix.series.length} series · step {formatDuration(matrix.step)} · {Math.round(tookMs)} ms
            </span>
          </div>
          {matrix.series.length === 0 ? (
            <div className="empty-result">The query returned no data in this time range.</div>
          ) : (
            <TimeSeriesChart
              data={buildChart([{ series: matrix.series, label: (m) => applyLegend('', m) || seriesName(m) }], matrix.start, matrix.end, matrix.step, 200).data}
              onZoom={(a, b) => setParams({ from: String(Math.floor(a * 1000)), to: String(Math.ceil(b * 1000)) }, true)}
            />
          )}
        </section>
      )}

      {rows && (
        <>
          <section className="card volume-card" aria-label="Log volume">
            {volumeError !== null ? (
              <ErrorBox error={volumeError} title="Volume query failed" />
            ) : volume ? (
              <LogVolume
                {...volume}
                onZoom={(a, b) => setParams({ from: String(Math.floor(a * 1000)), to: String(Math.ceil(b * 1000)) }, true)}
              />
            ) : (
              <div className="volume-placeholder" />
            )}
          </section>
          <section className="card log-results" aria-label="Log lines">
            <div className="card-head">
              <h2 data-testid="log-count">
                {rows.length === Number(limit) ? `Newest ${rows.length} lines` : rows.length === 1 ? '1 line' : `${rows.length} lines`}
              </h2>
              {loading && <span className="spinner" aria-label="Loading" />}
              <div className="level-filters">
                {LEVELS.filter((l) => levelCounts.has(l)).map((l) => (
                  <button
                    key={l}
                    type="button"
                    className={hiddenLevels.has(l) ? 'level-chip off' : 'level-chip'}
                    onClick={() =>
                      setHiddenLevels((h) => {
                        const n = new Set(h);
                        if (n.has(l)) n.delete(l);
                        else n.add(l);
                        return n;
                      })
                    }
                    aria-pressed={!hiddenLevels.has(l)}
                  >
                    <span className={`lvl-dot lvl-${l}`} /> {l} <span className="muted">{levelCounts.get(l)}</span>
                  </button>
                ))}
              </div>
              <span className="spacer" />
              <span className="muted small">{Math.round(tookMs)} ms</span>
            </div>
            {rows.length === 0 ? (
              <div className="empty-result">No log line matches in this time range.</div>
            ) : (
              <div className={sel ? 'log-split open' : 'log-split'}>
                <LogList rows={shown} selected={selected} onSelect={setSelected} />
                {sel && <LogDetails row={sel} onFilter={filterOn} onClose={() => setSelected(null)} />}
              </div>
            )}
          </section>
        </>
      )}
    </div>
  );
}

function toVolume(series: RangeSeries[], start: number, step: number, buckets: number): VolumeState {
  const byLevel = new Map<Level, number[]>();
  for (const s of series) {
    const level = normaliseLevel(s.metric.level ?? s.metric.detected_level);
    let counts = byLevel.get(level);
    if (!counts) {
      counts = new Array<number>(buckets).fill(0);
      byLevel.set(level, counts);
    }
    for (const [t, v] of s.values ?? []) {
      const k = Math.round((t - start) / step);
      if (k >= 0 && k < buckets) counts[k] = (counts[k] ?? 0) + Number(v);
    }
  }
  return {
    start,
    step,
    buckets,
    series: LEVELS.filter((l) => byLevel.has(l)).map((level) => ({ level, counts: byLevel.get(level)! })),
  };
}

function LogDetails({
  row,
  onFilter,
  onClose,
}: {
  row: LogRow;
  onFilter: (key: string, value: string, stream: boolean) => void;
  onClose: () => void;
}) {
  const date = new Date(row.ms);
  return (
    <aside className="log-details" aria-label="Log line details">
      <div className="log-details-head">
        <span className={`badge lvl-badge-${row.level}`}>{row.level}</span>
        <span className="muted small">
          {date.toISOString()} · {row.ns} ns
        </span>
        <span className="spacer" />
        <button type="button" className="btn icon-btn subtle" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </div>
      <pre className="log-details-line">{row.line}</pre>
      {row.traceID && (
        <div className="log-details-trace">
          <a className="btn small-btn" href={hrefFor(`/traces/${row.traceID}`)} onClick={onLinkClick}>
            Open trace {row.traceID.slice(0, 12)}…
          </a>
          <button type="button" className="btn small-btn" onClick={() => onFilter('__line__', row.traceID, false)}>
            Logs of this trace
          </button>
        </div>
      )}
      <FieldTable title="Stream labels" items={row.stream} onFilter={(k, v) => onFilter(k, v, true)} />
      <FieldTable title="Fields" items={row.fields} onFilter={(k, v) => onFilter(k, v, false)} />
    </aside>
  );
}

function FieldTable({ title, items, onFilter }: { title: string; items: Record<string, string>; onFilter: (k: string, v: string) => void }) {
  const keys = Object.keys(items).sort();
  if (keys.length === 0) return null;
  return (
    <div className="span-section">
      <div className="span-section-title">{title}</div>
      <table className="kv-table">
        <tbody>
          {keys.map((k) => (
            <tr key={k}>
              <td className="kv-key">{k}</td>
              <td className="kv-value">
                <button type="button" className="value-filter" title={`Filter on ${k}="${items[k]}"`} onClick={() => onFilter(k, items[k] ?? '')}>
                  {items[k]}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
