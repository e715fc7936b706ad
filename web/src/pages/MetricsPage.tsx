import { useEffect, useMemo, useRef, useState } from 'react';
import {
  isAbort,
  queryInstant,
  queryRange,
  type Labels,
  type QueryData,
  type RangeSeries,
} from '../api';
import { buildChart } from '../chartdata';
import type { PageProps } from '../App';
import { ErrorBox, WarningBox } from '../components/ErrorBox';
import { MetricBrowser } from '../components/MetricBrowser';
import { PromQLEditor, type EditorHandle } from '../components/PromQLEditor';
import { TimeSeriesChart, type ChartData } from '../components/TimeSeriesChart';
import { PALETTE, seriesName } from '../format';
import { hrefFor, onLinkClick, setParams } from '../router';
import { autoStep, formatDateTime, formatDuration, parseDuration, resolveRange } from '../time';

const MAX_GRAPH_SERIES = 300;
const MAX_TABLE_ROWS = 1000;

type Tab = 'graph' | 'table';

interface RangeOutcome {
  series: RangeSeries[];
  error?: unknown;
  warnings: string[];
}

interface InstantOutcome {
  data?: QueryData;
  error?: unknown;
  warnings: string[];
}

interface Results {
  kind: Tab;
  queries: string[];
  range?: RangeOutcome[];
  instant?: InstantOutcome[];
  step: number;
  start: number;
  end: number;
  tookMs: number;
}

/** The metrics explorer: several PromQL queries drawn on one graph, or as a table. */
export function MetricsPage({ range, params, refreshKey }: PageProps) {
  const urlQueries = params.getAll('q');
  const urlKey = urlQueries.join('\u0000');
  const tab: Tab = params.get('tab') === 'table' ? 'table' : 'graph';
  const stepParam = params.get('step') ?? '';
  const tenant = params.get('tenant') ?? '';

  const [drafts, setDrafts] = useState<string[]>(urlQueries.length ? urlQueries : ['']);
  const [stepDraft, setStepDraft] = useState(stepParam);
  const [runNonce, setRunNonce] = useState(0);
  const [results, setResults] = useState<Results | null>(null);
  const [loading, setLoading] = useState(false);
  const [fatal, setFatal] = useState<unknown>(null);
  const [browserFor, setBrowserFor] = useState<number | null>(null);
  const editors = useRef<(EditorHandle | null)[]>([]);

  // Back/forward or a pasted link changes the URL: show its queries.
  useEffect(() => {
    setDrafts(urlKey ? urlKey.split('\u0000') : ['']);
  }, [urlKey]);
  useEffect(() => setStepDraft(stepParam), [stepParam]);

  const run = () => {
    const qs = drafts.map((d) => d.trim()).filter((d) => d !== '');
    const stepOk = stepDraft === '' || Number.isFinite(parseDuration(stepDraft));
    setParams({ q: qs, step: stepOk ? stepDraft || null : stepParam || null }, qs.join('\u0000') !== urlKey);
    setRunNonce((n) => n + 1);
  };

  const abortRef = useRef<AbortController | null>(null);
  useEffect(() => {
    abortRef.current?.abort();
    const queries = urlKey ? urlKey.split('\u0000') : [];
    if (queries.length === 0) {
      setResults(null);
      setLoading(false);
      setFatal(null);
      return;
    }
    let resolved;
    try {
      resolved = resolveRange(range);
    } catch (err) {
      setFatal(err);
      return;
    }
    const ac = new AbortController();
    abortRef.current = ac;
    const custom = parseDuration(stepParam);
    const step = Number.isFinite(custom) && custom > 0 ? custom : autoStep(resolved);
    const started = performance.now();
    setLoading(true);
    setFatal(null);

    const done = (r: Results) => {
      if (ac.signal.aborted) return;
      setResults(r);
      setLoading(false);
    };
    const base = { queries, step, start: resolved.start, end: resolved.end };
    if (tab === 'graph') {
      Promise.all(
        queries.map((q) =>
          queryRange(q, resolved.start, resolved.end, step, ac.signal).then(
            (r): RangeOutcome => ({ series: r.data.result, warnings: r.warnings }),
            (error: unknown): RangeOutcome => ({ series: [], error, warnings: [] }),
          ),
        ),
      ).then((range) => {
        if (range.some((r) => isAbort(r.error))) return;
        done({ ...base, kind: 'graph', range, tookMs: performance.now() - started });
      });
    } else {
      Promise.all(
        queries.map((q) =>
          queryInstant(q, resolved.end, ac.signal).then(
            (r): InstantOutcome => ({ data: r.data, warnings: r.warnings }),
            (error: unknown): InstantOutcome => ({ error, warnings: [] }),
          ),
        ),
      ).then((instant) => {
        if (instant.some((r) => isAbort(r.error))) return;
        done({ ...base, kind: 'table', instant, tookMs: performance.now() - started });
      });
    }
    return () => ac.abort();
    // range.from/to are strings; refreshKey and runNonce force a re-run.
  }, [urlKey, range.from, range.to, tab, stepParam, refreshKey, runNonce, tenant]);

  const chart = useMemo(() => (results?.kind === 'graph' ? toChart(results) : null), [results]);
  const errors = (i: number): unknown =>
    results && results.queries[i] === drafts[i]?.trim()
      ? (results.range?.[i]?.error ?? results.instant?.[i]?.error)
      : undefined;

  const seriesCount = results
    ? results.kind === 'graph'
      ? (results.range ?? []).reduce((n, r) => n + r.series.length, 0)
      : (results.instant ?? []).reduce((n, r) => n + instantCount(r.data), 0)
    : 0;
  const warnings = results
    ? [...(results.range ?? []), ...(results.instant ?? [])].flatMap((r) => r.warnings)
    : [];

  return (
    <div className="page metrics-page">
      <section className="card query-card" aria-label="Queries">
        {drafts.map((d, i) => (
          <div className="query-row" key={i}>
            <span className="query-index" style={{ borderColor: PALETTE[i % PALETTE.length] }}>
              {i + 1}
            </span>
            <div className="query-main">
              <PromQLEditor
                value={d}
                label={`PromQL query ${i + 1}`}
                tenant={tenant}
                autoFocus={i === 0 && d === ''}
                placeholder="PromQL, e.g. sum by (job) (rate(http_requests_total[5m]))   — Enter runs, Shift+Enter new line, Ctrl+Space completes"
                onChange={(v) => setDrafts((all) => all.map((x, j) => (j === i ? v : x)))}
                onRun={run}
                handle={(h) => {
                  editors.current[i] = h;
                }}
              />
              {browserFor === i && (
                <MetricBrowser
                  onClose={() => setBrowserFor(null)}
                  onPick={(name) => {
                    setBrowserFor(null);
                    editors.current[i]?.insert(name);
                  }}
                />
              )}
              {errors(i) !== undefined && <ErrorBox error={errors(i)} title={`Query ${i + 1} failed`} />}
            </div>
            <button
              type="button"
              className="btn metrics-btn"
              title="Browse metric names"
              aria-label={`Browse metrics for query ${i + 1}`}
              onClick={() => setBrowserFor(browserFor === i ? null : i)}
            >
              Metrics
            </button>
            {drafts.length > 1 && (
              <button
                type="button"
                className="btn icon-btn subtle"
                title="Remove this query"
                aria-label={`Remove query ${i + 1}`}
                onClick={() => setDrafts((all) => all.filter((_, j) => j !== i))}
              >
                ×
              </button>
            )}
          </div>
        ))}
        <div className="query-actions">
          <button type="button" className="btn" onClick={() => setDrafts((all) => [...all, ''])}>
            + Add query
          </button>
          <div className="spacer" />
          <label className="inline-field" title="Resolution of the graph; empty picks one from the range">
            <span>Step</span>
            <input
              className="input step-input"
              value={stepDraft}
              placeholder={results ? `auto (${formatDuration(results.step)})` : 'auto'}
              onChange={(e) => setStepDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') run();
              }}
              aria-invalid={stepDraft !== '' && !Number.isFinite(parseDuration(stepDraft))}
            />
          </label>
          <button type="button" className="btn primary" onClick={run} data-testid="run-query">
            Run query
          </button>
        </div>
      </section>

      {fatal !== null && <ErrorBox error={fatal} />}

      <section className="card result-card" aria-label="Results">
        <div className="result-head">
          <div className="tabs" role="tablist">
            {(['graph', 'table'] as const).map((t) => (
              <button
                key={t}
                type="button"
                role="tab"
                aria-selected={tab === t}
                className={tab === t ? 'tab active' : 'tab'}
                onClick={() => setParams({ tab: t === 'graph' ? null : t }, true)}
              >
                {t === 'graph' ? 'Graph' : 'Table'}
              </button>
            ))}
          </div>
          <div className="result-stats" aria-live="polite">
            {loading && <span className="spinner" aria-label="Loading" />}
            {results && (
              <span>
                {seriesCount} series
                {results.kind === 'graph' ? ` · step ${formatDuration(results.step)}` : ` · at ${formatDateTime(results.end)}`}
                {` · ${Math.round(results.tookMs)} ms`}
              </span>
            )}
          </div>
        </div>
        {loading && <div className="progress" />}
        <WarningBox warnings={warnings} />
        {!results && !loading && <EmptyHint onPick={(q) => setParams({ q: [q] }, true)} />}
        {results?.kind === 'graph' && chart && (
          <>
            {chart.truncated > 0 && (
              <div className="note">
                Showing the first {MAX_GRAPH_SERIES} of {chart.truncated + MAX_GRAPH_SERIES} series. Aggregate the
                query (for example with <code>sum by (…)</code>) to see all of it.
              </div>
            )}
            {chart.data.series.length === 0 ? (
              <div className="empty-result">
                {(results.range ?? []).every((r) => r.error !== undefined)
                  ? 'Nothing to draw: the query failed (the server’s message is shown above).'
                  : 'The queries returned no data in this time range.'}
              </div>
            ) : (
              <TimeSeriesChart
                data={chart.data}
                onZoom={(a, b) =>
                  setParams({ from: String(Math.floor(a * 1000)), to: String(Math.ceil(b * 1000)) }, true)
                }
              />
            )}
          </>
        )}
        {results?.kind === 'table' && <InstantTables results={results} />}
        {results && <RelatedLinks results={results} range={range} />}
      </section>
    </div>
  );
}

function instantCount(d: QueryData | undefined): number {
  if (!d) return 0;
  return d.resultType === 'vector' || d.resultType === 'matrix' ? d.result.length : 1;
}

function toChart(r: Results): { data: ChartData; truncated: number } {
  const multi = r.queries.length > 1;
  const groups = (r.range ?? []).map((out, qi) => ({
    series: out.series,
    label: (m: Labels) => (multi ? `#${qi + 1} ${seriesName(m)}` : seriesName(m)),
  }));
  return buildChart(groups, r.start, r.end, r.step, MAX_GRAPH_SERIES);
}

function InstantTables({ results }: { results: Results }) {
  return (
    <div className="instant-tables">
      {(results.instant ?? []).map((out, i) => (
        <div key={i} className="instant-table">
          {results.queries.length > 1 && (
            <div className="instant-title">
              <span className="query-index small" style={{ borderColor: PALETTE[i % PALETTE.length] }}>
                {i + 1}
              </span>
              <code>{results.queries[i]}</code>
            </div>
          )}
          {out.data ? <InstantTable data={out.data} /> : out.error === undefined ? null : (
            <div className="empty-result">This query failed; see the message above.</div>
          )}
        </div>
      ))}
    </div>
  );
}

function InstantTable({ data }: { data: QueryData }) {
  if (data.resultType === 'scalar' || data.resultType === 'string') {
    return (
      <table className="table">
        <thead>
          <tr>
            <th>{data.resultType}</th>
            <th className="num">Value</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <td className="muted">{formatDateTime(data.result[0])}</td>
            <td className="num mono">{data.result[1]}</td>
          </tr>
        </tbody>
      </table>
    );
  }
  const rows =
    data.resultType === 'vector'
      ? data.result.map((s) => ({
          name: seriesName(s.metric),
          value: s.value ? s.value[1] : s.histogram ? `histogram count=${s.histogram[1].count} sum=${s.histogram[1].sum}` : '',
        }))
      : data.result.map((s) => ({
          name: seriesName(s.metric),
          value: (s.values ?? []).map(([t, v]) => `${v} @${t}`).join('\n'),
        }));
  if (rows.length === 0) return <div className="empty-result">The query returned no series at this time.</div>;
  rows.sort((a, b) => a.name.localeCompare(b.name));
  return (
    <>
      <table className="table" data-testid="instant-table">
        <thead>
          <tr>
            <th>Series</th>
            <th className="num">Value</th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, MAX_TABLE_ROWS).map((r, i) => (
            <tr key={i}>
              <td className="mono series-cell">{r.name}</td>
              <td className="num mono value-cell">{r.value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length > MAX_TABLE_ROWS && <div className="note">Showing {MAX_TABLE_ROWS} of {rows.length} rows.</div>}
    </>
  );
}

function EmptyHint({ onPick }: { onPick: (q: string) => void }) {
  const examples = ['up', 'sum by (job) (up)', 'topk(5, rate({__name__=~".+_total"}[5m]))'];
  return (
    <div className="empty-state">
      <h2>Query your metrics</h2>
      <p>
        Type a PromQL expression above and press <kbd>Enter</kbd>. Completion offers metric names, labels, label values and
        functions as you type (<kbd>Ctrl</kbd>+<kbd>Space</kbd> opens it). Drag across the graph to zoom in.
      </p>
      <div className="examples">
        {examples.map((e) => (
          <button key={e} type="button" className="btn code-btn" onClick={() => onPick(e)}>
            {e}
          </button>
        ))}
      </div>
    </div>
  );
}

const SERVICE_LABELS = ['service', 'service_name', 'service.name', 'job'];
const MAX_RELATED = 6;

/** The services named by the results' labels, each linked to its logs, traces and map node over the same range. */
function RelatedLinks({ results, range }: { results: Results; range: { from: string; to: string } }) {
  const services = useMemo(() => {
    const found = new Set<string>();
    const add = (m: Labels) => {
      for (const k of SERVICE_LABELS) {
        const v = m[k];
        if (v) {
          found.add(v);
          return;
        }
      }
    };
    for (const r of results.range ?? []) for (const x of r.series) add(x.metric);
    for (const r of results.instant ?? [])
      if (r.data && (r.data.resultType === 'vector' || r.data.resultType === 'matrix')) for (const x of r.data.result) add(x.metric);
    return [...found].sort();
  }, [results]);
  if (services.length === 0) return null;
  const keep = { from: range.from, to: range.to };
  return (
    <div className="related-links" aria-label="Related logs and traces">
      <span className="muted small">Same time range:</span>
      {services.slice(0, MAX_RELATED).map((svc) => (
        <span className="related-service" key={svc}>
          <b>{svc}</b>
          <a href={hrefFor('/logs', { ...keep, q: `{service_name="${svc.replace(/["\\]/g, '\\$&')}"}` })} onClick={onLinkClick}>
            logs
          </a>
          <a href={hrefFor('/traces', { ...keep, service: svc })} onClick={onLinkClick}>
            traces
          </a>
          <a href={hrefFor('/service-map', { ...keep, service: svc })} onClick={onLinkClick}>
            map
          </a>
        </span>
      ))}
      {services.length > MAX_RELATED && <span className="muted small">and {services.length - MAX_RELATED} more</span>}
    </div>
  );
}
