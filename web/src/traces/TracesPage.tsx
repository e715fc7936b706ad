import { useEffect, useMemo, useState } from 'react';
import {
  ApiError,
  findTraces,
  getTrace,
  isAbort,
  traceOperations,
  traceServices,
  type JaegerTrace,
} from '../api';
import type { PageProps } from '../App';
import { ErrorBox } from '../components/ErrorBox';
import { PendingApi } from '../components/PendingApi';
import { TraceScatter, type ScatterPoint } from '../components/TraceScatter';
import { TraceWaterfall } from './TraceWaterfall';
import { hrefFor, navigate, onLinkClick, setParams } from '../router';
import { formatDateTime, parseDuration, resolveRange } from '../time';
import { buildTrace, formatMicros, parseTags, serviceColor, type TraceModel } from './model';

const LIMITS = ['20', '50', '100', '500'];

/** Trace search (service, operation, tags, duration) and the view of one trace. */
export function TracesPage(props: PageProps) {
  const id = decodeURIComponent(props.path.replace(/^\/traces\/?/, '').split('/')[0] ?? '');
  const [services, setServices] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const tenant = props.params.get('tenant') ?? '';

  useEffect(() => {
    const ac = new AbortController();
    traceServices(ac.signal).then(
      (s) => {
        setServices(s);
        setError(null);
      },
      (err: unknown) => {
        if (!isAbort(err)) setError(err);
      },
    );
    return () => ac.abort();
  }, [tenant]);

  if (error instanceof ApiError && error.status === 404) return <TracesPending status={error.status} />;
  if (id) return <TraceView id={id} {...props} />;
  return (
    <>
      {error !== null && <ErrorBox error={error} title="Cannot list services" />}
      <TraceSearch services={services ?? []} {...props} />
    </>
  );
}

function TracesPending({ status }: { status: number }) {
  return (
    <PendingApi
      summary={`Find traces by service, operation, tags and duration, then open one as a waterfall with its critical path and errors highlighted. This server answered HTTP ${status} to GET /api/services.`}
      endpoints={[
        'GET /api/services, /api/services/{service}/operations',
        'GET /api/traces?service=…',
        'GET /api/traces/{traceID}',
      ]}
      features={[
        { title: 'Search', text: 'Service, operation, tags, minimum and maximum duration over the selected time range.' },
        { title: 'Results scatter', text: 'Each matching trace as a point by start time and duration; errors stand out.' },
        { title: 'Waterfall', text: 'Spans on a time axis with attributes, events and links; the critical path is marked.' },
        { title: 'To the logs', text: '“Logs of this trace” and “logs of this span” open the logs explorer on the same ids.' },
      ]}
    />
  );
}

interface SearchProps extends PageProps {
  services: string[];
}

function TraceSearch({ services, params, range, refreshKey }: SearchProps) {
  const service = params.get('service') ?? '';
  const operation = params.get('operation') ?? '';
  const tags = params.get('tags') ?? '';
  const minDuration = params.get('minDuration') ?? '';
  const maxDuration = params.get('maxDuration') ?? '';
  const limit = params.get('limit') ?? '20';
  const sort = params.get('sort') ?? 'recent';

  const [form, setForm] = useState({ service, operation, tags, minDuration, maxDuration, limit });
  const [formError, setFormError] = useState('');
  const [operations, setOperations] = useState<string[]>([]);
  const [results, setResults] = useState<TraceModel[] | null>(null);
  const [resultRange, setResultRange] = useState<{ start: number; end: number } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [lookup, setLookup] = useState('');

  useEffect(() => {
    setForm({ service, operation, tags, minDuration, maxDuration, limit });
  }, [service, operation, tags, minDuration, maxDuration, limit]);

  // Default to the first service so the page shows something useful at once.
  useEffect(() => {
    if (!service && services.length > 0) setParams({ service: services[0] ?? null });
  }, [service, services]);

  useEffect(() => {
    if (!form.service) return setOperations([]);
    const ac = new AbortController();
    traceOperations(form.service, ac.signal).then(setOperations, (err: unknown) => {
      if (!isAbort(err)) setError(err);
    });
    return () => ac.abort();
  }, [form.service]);

  useEffect(() => {
    if (!service) return;
    const ac = new AbortController();
    let r;
    let tagMap;
    try {
      r = resolveRange(range);
      tagMap = parseTags(tags);
    } catch (err) {
      setError(err);
      return;
    }
    setLoading(true);
    findTraces(
      { service, operation, tags: tagMap, minDuration, maxDuration, start: r.start, end: r.end, limit: Number(limit) || 20 },
      ac.signal,
    ).then(
      (traces: JaegerTrace[]) => {
        setResults(traces.map(buildTrace));
        setResultRange(r);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => ac.abort();
  }, [service, operation, tags, minDuration, maxDuration, limit, range.from, range.to, refreshKey]);

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    for (const [name, v] of [
      ['minimum duration', form.minDuration],
      ['maximum duration', form.maxDuration],
    ] as const) {
      if (v && !Number.isFinite(parseDuration(v))) return setFormError(`cannot read the ${name} "${v}" (use 100ms, 1.5s, 2m)`);
    }
    try {
      parseTags(form.tags);
    } catch (err) {
      return setFormError(err instanceof Error ? err.message : String(err));
    }
    setFormError('');
    setParams(
      {
        service: form.service || null,
        operation: form.operation || null,
        tags: form.tags.trim() || null,
        minDuration: form.minDuration || null,
        maxDuration: form.maxDuration || null,
        limit: form.limit === '20' ? null : form.limit,
      },
      true,
    );
  };

  const sorted = useMemo(() => {
    const list = [...(results ?? [])];
    if (sort === 'longest') list.sort((a, b) => b.duration - a.duration);
    else if (sort === 'spans') list.sort((a, b) => b.rows.length - a.rows.length);
    else if (sort === 'errors') list.sort((a, b) => b.errorCount - a.errorCount || b.start - a.start);
    else list.sort((a, b) => b.start - a.start);
    return list;
  }, [results, sort]);

  const points: ScatterPoint[] = (results ?? []).map((t) => ({
    id: t.traceID,
    time: t.start / 1e6,
    duration: t.duration,
    error: t.errorCount > 0,
    label: `${t.rootService}: ${t.rootName}`,
  }));

  return (
    <div className="page traces-page">
      <form className="card search-form" onSubmit={submit} aria-label="Search traces">
        <label>
          <span>Service</span>
          <select
            className="select"
            value={form.service}
            onChange={(e) => setForm({ ...form, service: e.target.value, operation: '' })}
          >
            {services.length === 0 && <option value="">no services yet</option>}
            {services.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          <span>Operation</span>
          <select className="select" value={form.operation} onChange={(e) => setForm({ ...form, operation: e.target.value })}>
            <option value="">all</option>
            {operations.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label className="grow">
          <span>Tags</span>
          <input
            className="input"
            placeholder='http.status_code=500 error=true'
            value={form.tags}
            onChange={(e) => setForm({ ...form, tags: e.target.value })}
          />
        </label>
        <label>
          <span>Min duration</span>
          <input className="input short" placeholder="100ms" value={form.minDuration} onChange={(e) => setForm({ ...form, minDuration: e.target.value })} />
        </label>
        <label>
          <span>Max duration</span>
          <input className="input short" placeholder="5s" value={form.maxDuration} onChange={(e) => setForm({ ...form, maxDuration: e.target.value })} />
        </label>
        <label>
          <span>Limit</span>
          <select className="select narrow" value={form.limit} onChange={(e) => setForm({ ...form, limit: e.target.value })}>
            {LIMITS.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        <button type="submit" className="btn primary">
          Find traces
        </button>
        {formError && <div className="field-error full">{formError}</div>}
      </form>

      <form
        className="lookup"
        onSubmit={(e) => {
          e.preventDefault();
          const v = lookup.trim();
          if (v) navigate(hrefFor(`/traces/${encodeURIComponent(v)}`));
        }}
      >
        <input
          className="input mono"
          placeholder="Open a trace by id"
          aria-label="Trace id"
          value={lookup}
          onChange={(e) => setLookup(e.target.value)}
        />
      </form>

      {error !== null && <ErrorBox error={error} title="Trace search failed" />}

      {results && resultRange && (
        <section className="card" aria-label="Results">
          <div className="card-head">
            <h2>{results.length === 1 ? '1 trace' : `${results.length} traces`}</h2>
            {loading && <span className="spinner" aria-label="Loading" />}
            <span className="spacer" />
            <label className="inline-field">
              <span>Sort</span>
              <select className="select" value={sort} onChange={(e) => setParams({ sort: e.target.value === 'recent' ? null : e.target.value })}>
                <option value="recent">Most recent</option>
                <option value="longest">Longest first</option>
                <option value="spans">Most spans</option>
                <option value="errors">Most errors</option>
              </select>
            </label>
          </div>
          {results.length === 0 ? (
            <div className="empty-result">No trace matches in this time range.</div>
          ) : (
            <>
              <TraceScatter
                points={points}
                start={resultRange.start}
                end={resultRange.end}
                onPick={(id) => navigate(hrefFor(`/traces/${id}`))}
              />
              <ul className="trace-list">
                {sorted.map((t) => (
                  <li key={t.traceID}>
                    <a className="trace-row" href={hrefFor(`/traces/${t.traceID}`)} onClick={onLinkClick}>
                      <span className="trace-title">
                        <span className="svc-dot" style={{ background: serviceColor(t.rootService) }} />
                        <span className="trace-name">
                          <strong>{t.rootService}</strong>: {t.rootName}
                        </span>
                        <span className="muted mono small">{t.traceID.slice(0, 16)}</span>
                      </span>
                      <span className="trace-meta">
                        <span className="muted">{t.rows.length} spans</span>
                        {t.errorCount > 0 && (
                          <span className="badge badge-error">{t.errorCount === 1 ? '1 error' : `${t.errorCount} errors`}</span>
                        )}
                        <span className="trace-services">
                          {t.services.slice(0, 6).map((s) => (
                            <span key={s} className="chip">
                              {s}
                            </span>
                          ))}
                          {t.services.length > 6 && <span className="muted">+{t.services.length - 6}</span>}
                        </span>
                      </span>
                      <span className="trace-dur">{formatMicros(t.duration)}</span>
                      <span className="muted small trace-time">{formatDateTime(t.start / 1e6)}</span>
                    </a>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}
      {!results && loading && <div className="empty-result">Searching…</div>}
    </div>
  );
}

function TraceView({ id }: PageProps & { id: string }) {
  const [trace, setTrace] = useState<TraceModel | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const ac = new AbortController();
    setTrace(null);
    setError(null);
    getTrace(id, ac.signal).then(
      (t) => setTrace(buildTrace(t)),
      (err: unknown) => {
        if (!isAbort(err)) setError(err);
      },
    );
    return () => ac.abort();
  }, [id]);

  if (error !== null) return <ErrorBox error={error} title={`Cannot open trace ${id}`} />;
  if (!trace) return <div className="empty-result">Loading trace {id}…</div>;
  const startS = trace.start / 1e6;
  const logsHref = hrefFor('/logs', {
    traceID: trace.traceID,
    from: String(Math.floor(startS * 1000) - 60_000),
    to: String(Math.ceil(startS * 1000 + trace.duration / 1000) + 60_000),
  });
  return (
    <div className="page trace-page">
      <section className="card trace-header">
        <div className="trace-header-title">
          <span className="svc-dot" style={{ background: serviceColor(trace.rootService) }} />
          <h2>
            {trace.rootService}: {trace.rootName}
          </h2>
          <span className="spacer" />
          <a className="btn" href={logsHref} onClick={onLinkClick}>
            Logs of this trace
          </a>
          <a
            className="btn"
            href={hrefFor('/service-map', {
              service: trace.rootService,
              from: String(Math.floor(startS * 1000) - 30 * 60_000),
              to: String(Math.ceil(startS * 1000 + trace.duration / 1000) + 30 * 60_000),
            })}
            onClick={onLinkClick}
            title="The services around this trace's root service, half an hour either side"
          >
            Service map
          </a>
        </div>
        <div className="trace-facts">
          <Fact label="Trace ID" value={<span className="mono">{trace.traceID}</span>} />
          <Fact label="Started" value={formatDateTime(startS)} />
          <Fact label="Duration" value={formatMicros(trace.duration)} />
          <Fact label="Spans" value={<span data-testid="span-count">{trace.rows.length}</span>} />
          <Fact label="Services" value={trace.services.length} />
          <Fact label="Errors" value={<span className={trace.errorCount ? 'danger-text' : undefined}>{trace.errorCount}</span>} />
        </div>
      </section>
      <section className="card">
        <TraceWaterfall trace={trace} />
      </section>
    </div>
  );
}

function Fact({ label, value }: { label: string; value: React.ReactNode }) {
  return (
    <div className="fact">
      <div className="fact-label">{label}</div>
      <div className="fact-value">{value}</div>
    </div>
  );
}
