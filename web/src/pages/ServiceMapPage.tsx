import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiError, dependencies, isAbort, queryInstant, type DependencyLink } from '../api';
import type { PageProps } from '../App';
import { ErrorBox } from '../components/ErrorBox';
import { PendingApi } from '../components/PendingApi';
import { BUILTIN_DASHBOARDS, tenantMatcher } from '../dashboards/builtin';
import { formatValue, unitFormatter } from '../format';
import { PanelView } from '../dashboards/BuiltinDashboard';
import { hrefFor, onLinkClick, setParams } from '../router';
import { layoutGraph, type MapEdge, type MapNode } from '../servicemap/layout';
import { ServiceGraph } from '../servicemap/ServiceGraph';
import { resolveRange, type RangeSpec } from '../time';
import { serviceColor } from '../traces/model';

/** The graph of services and what they call, from the server's dependency links. */
export function ServiceMapPage({ params, range, refreshKey }: PageProps) {
  const [links, setLinks] = useState<DependencyLink[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [stats, setStats] = useState<Map<string, EdgeStats>>(new Map());
  const selected = params.get('service') ?? '';
  const tenant = params.get('tenant') ?? '';

  useEffect(() => {
    let r;
    try {
      r = resolveRange(range);
    } catch (err) {
      setError(err);
      return;
    }
    const ac = new AbortController();
    setLoading(true);
    dependencies(r.end, r.end - r.start, ac.signal).then(
      (l) => {
        setLinks(l);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setError(err);
        setLoading(false);
      },
    );
    edgeStats(r.start, r.end, tenant, ac.signal).then(setStats, (err: unknown) => {
      // Without service-graph series the edges show call counts only.
      if (!isAbort(err)) setStats(new Map());
    });
    return () => ac.abort();
  }, [range.from, range.to, refreshKey, tenant]);

  const layout = useMemo(() => layoutGraph(links ?? []), [links]);
  const labelOf = useCallback((e: MapEdge) => edgeLabel(e, stats.get(`${e.from}>${e.to}`)), [stats]);
  const healthOf = useCallback((e: MapEdge) => edgeHealth(stats.get(`${e.from}>${e.to}`)), [stats]);

  if (error instanceof ApiError && error.status === 404) {
    return (
      <PendingApi
        summary={`The services and the databases and queues they call, from the call links the server derives from spans. This server answered HTTP 404 to GET /api/dependencies.`}
        endpoints={['GET /api/dependencies', 'GET /api/v1/query (service-graph request, failure and latency series)']}
        features={[
          { title: 'Graph', text: 'Services and their calls; edges show request rate, error ratio and p95 latency, coloured by health.' },
          { title: 'Service details', text: 'Click a node for its rate, errors and duration graphs, recent errors, traces and logs.' },
        ]}
        meanwhile={{ label: 'Open the metrics explorer', path: '/graph' }}
      />
    );
  }

  const node = layout.nodes.find((n) => n.id === selected);
  return (
    <div className="page service-map-page">
      {error !== null && <ErrorBox error={error} title="Cannot load the service graph" />}
      {links && links.length === 0 && (
        <div className="card empty-state">
          <h2>No calls between services in this time range</h2>
          <p>The map draws the calls recorded in traces. Widen the time range or send traces first.</p>
        </div>
      )}
      {links && links.length > 0 && (
        <div className={node ? 'map-split open' : 'map-split'}>
          <section className="card map-card" aria-label="Service graph">
            <div className="card-head">
              <h2>
                {layout.nodes.length} services · {layout.edges.length} call paths
              </h2>
              {loading && <span className="spinner" aria-label="Loading" />}
              <span className="spacer" />
              <span className="muted small">
                {stats.size > 0
                  ? 'Edges: rate · errors · p95, coloured by health'
                  : 'Edges: calls in the time range'}
              </span>
            </div>
            <div className="map-scroll">
              <ServiceGraph
                layout={layout}
                selected={selected}
                onSelect={(id) => setParams({ service: id === selected ? null : id }, true)}
                labelOf={labelOf}
                healthOf={healthOf}
              />
            </div>
          </section>
          {node && <ServicePanel node={node} edges={layout.edges} range={range} refreshKey={refreshKey} tenant={tenant} />}
        </div>
      )}
    </div>
  );
}

/** Request rate, error ratio and p95 latency of one client → server edge. */
export interface EdgeStats {
  rate?: number;
  errorRatio?: number;
  p95?: number;
}

/**
 * Reads the service-graph series the server derives from spans, averaged
 * over the range: one instant query each for rate, failures and p95.
 */
async function edgeStats(start: number, end: number, tenant: string, signal: AbortSignal): Promise<Map<string, EdgeStats>> {
  const w = `${Math.max(60, Math.round(end - start))}s`;
  // The PromQL API reads every tenant's series; non-default tenants' carry a tenant label.
  const t = `{${tenantMatcher(tenant)}}`;
  const by = 'sum by (client, server)';
  const [total, failed, p95] = await Promise.all([
    queryInstant(`${by} (rate(traces_service_graph_request_total${t}[${w}]))`, end, signal),
    queryInstant(`${by} (rate(traces_service_graph_request_failed_total${t}[${w}]))`, end, signal),
    // The callee's own latency; for a callee without spans (a database, a
    // queue) the caller's view of it.
    queryInstant(
      `histogram_quantile(0.95, sum by (client, server, le) (rate(traces_service_graph_request_server_seconds_bucket${t}[${w}])))` +
        ` or histogram_quantile(0.95, sum by (client, server, le) (rate(traces_service_graph_request_client_seconds_bucket${t}[${w}])))`,
      end,
      signal,
    ),
  ]);
  const out = new Map<string, EdgeStats>();
  const each = (res: typeof total, f: (s: EdgeStats, v: number) => void) => {
    if (res.data.resultType !== 'vector') return;
    for (const x of res.data.result) {
      const v = Number(x.value?.[1]);
      if (!Number.isFinite(v)) continue;
      const k = `${x.metric.client}>${x.metric.server}`;
      const s = out.get(k) ?? {};
      f(s, v);
      out.set(k, s);
    }
  };
  each(total, (s, v) => (s.rate = v));
  each(failed, (s, v) => (s.errorRatio = v));
  each(p95, (s, v) => (s.p95 = v));
  for (const s of out.values()) {
    if (s.rate === undefined || s.rate === 0) s.errorRatio = undefined;
    else s.errorRatio = (s.errorRatio ?? 0) / s.rate;
  }
  return out;
}

/** ok below 1 % errors, warn below 5 %, bad above; unknown without series. */
export function edgeHealth(s: EdgeStats | undefined): 'ok' | 'warn' | 'bad' | 'unknown' {
  if (!s || s.errorRatio === undefined) return 'unknown';
  if (s.errorRatio >= 0.05) return 'bad';
  if (s.errorRatio >= 0.01) return 'warn';
  return 'ok';
}

const fmtSeconds = unitFormatter('seconds');

/** Requests per second, or per minute when below one every ten seconds. */
export function formatRate(perSec: number): string {
  return perSec > 0 && perSec < 0.1 ? `${formatValue(perSec * 60)}/min` : `${formatValue(perSec)}/s`;
}

function edgeLabel(edge: MapEdge, s: EdgeStats | undefined): string[] {
  if (!s || s.rate === undefined) return [`${formatValue(edge.calls)} calls`];
  const first = `${formatRate(s.rate)}${s.errorRatio !== undefined ? ` · ${formatValue(s.errorRatio * 100)}% err` : ''}`;
  return s.p95 !== undefined ? [first, `p95 ${fmtSeconds(s.p95)}`] : [first];
}

const overview = BUILTIN_DASHBOARDS.find((d) => d.id === 'service-overview')!;
const RED_PANELS = ['Request rate', 'Error ratio', 'Latency p95'];

function ServicePanel({
  node,
  edges,
  range,
  refreshKey,
  tenant,
}: {
  node: MapNode;
  edges: MapEdge[];
  range: RangeSpec;
  refreshKey: number;
  tenant: string;
}) {
  const callers = edges.filter((e) => e.to === node.id && e.from !== node.id).sort((a, b) => b.calls - a.calls);
  const callees = edges.filter((e) => e.from === node.id && e.to !== node.id).sort((a, b) => b.calls - a.calls);
  const keep = { from: range.from, to: range.to };
  return (
    <aside className="card map-panel" aria-label={`Service ${node.id}`}>
      <div className="map-panel-head">
        <span className="svc-dot" style={{ background: serviceColor(node.id) }} />
        <h2>{node.id}</h2>
      </div>
      <div className="map-panel-links">
        <a className="btn small-btn" href={hrefFor('/traces', { ...keep, service: node.id })} onClick={onLinkClick}>
          Traces
        </a>
        <a className="btn small-btn" href={hrefFor('/logs', { ...keep, q: `{service_name="${node.id}"}` })} onClick={onLinkClick}>
          Logs
        </a>
        <a
          className="btn small-btn"
          href={hrefFor('/logs', { ...keep, q: `{service_name="${node.id}"} | level=~"(?i)(error|fatal|critical)"` })}
          onClick={onLinkClick}
        >
          Errors in logs
        </a>
        <a className="btn small-btn" href={hrefFor('/dashboards/service-overview', { ...keep, var: node.id })} onClick={onLinkClick}>
          Dashboard
        </a>
      </div>
      <div className="map-panel-graphs">
        {overview.panels
          .filter((p) => RED_PANELS.includes(p.title))
          .map((p) => (
            <PanelView key={p.title} panel={p} dashboard={overview} value={node.id} range={range} refreshKey={refreshKey} tenant={tenant} />
          ))}
      </div>
      <CallTable title="Called by" rows={callers.map((e) => [e.from, e.calls])} />
      <CallTable title="Calls" rows={callees.map((e) => [e.to, e.calls])} />
    </aside>
  );
}

function CallTable({ title, rows }: { title: string; rows: [string, number][] }) {
  return (
    <div className="span-section">
      <div className="span-section-title">{title}</div>
      {rows.length === 0 ? (
        <div className="muted small">none</div>
      ) : (
        <table className="kv-table">
          <tbody>
            {rows.map(([n, c]) => (
              <tr key={n}>
                <td className="kv-value">
                  <button type="button" className="value-filter" onClick={() => setParams({ service: n }, true)}>
                    {n}
                  </button>
                </td>
                <td className="num">{formatValue(c)} calls</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
