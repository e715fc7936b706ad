import { useEffect, useMemo, useState } from 'react';
import { ApiError, dependencies, isAbort, type DependencyLink } from '../api';
import type { PageProps } from '../App';
import { ErrorBox } from '../components/ErrorBox';
import { PendingApi } from '../components/PendingApi';
import { formatValue } from '../format';
import { hrefFor, onLinkClick, setParams } from '../router';
import { NODE_H, NODE_W, layoutGraph, type MapEdge, type MapNode } from '../servicemap/layout';
import { resolveRange } from '../time';
import { serviceColor } from '../traces/model';

/** The graph of services and what they call, from the server's dependency links. */
export function ServiceMapPage({ params, range, refreshKey }: PageProps) {
  const [links, setLinks] = useState<DependencyLink[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
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
    return () => ac.abort();
  }, [range.from, range.to, refreshKey, tenant]);

  const layout = useMemo(() => layoutGraph(links ?? []), [links]);

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
              <span className="muted small">Edge labels: calls in the time range · click a service for details</span>
            </div>
            <div className="map-scroll">
              <svg
                viewBox={`0 0 ${layout.width} ${layout.height}`}
                width="100%"
                style={{ maxWidth: layout.width }}
                role="img"
                aria-label="Service map"
                className="map-svg"
              >
                <defs>
                  <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                    <path d="M0,0 L10,5 L0,10 z" className="map-arrow" />
                  </marker>
                </defs>
                {layout.edges.map((e) => (
                  <Edge key={`${e.from}>${e.to}`} edge={e} nodes={layout.nodes} active={selected === e.from || selected === e.to} />
                ))}
                {layout.nodes.map((n) => (
                  <g
                    key={n.id}
                    className={n.id === selected ? 'map-node selected' : 'map-node'}
                    transform={`translate(${n.x},${n.y})`}
                    onClick={() => setParams({ service: n.id === selected ? null : n.id }, true)}
                    role="button"
                    aria-label={n.id}
                    data-testid="map-node"
                  >
                    <rect width={NODE_W} height={NODE_H} rx={8} />
                    <rect width={4} height={NODE_H} rx={2} style={{ fill: serviceColor(n.id) }} />
                    <text x={14} y={19} className="map-node-name">
                      {n.id.length > 20 ? n.id.slice(0, 19) + '…' : n.id}
                    </text>
                    <text x={14} y={34} className="map-node-meta">
                      {n.callsIn ? `${formatValue(n.callsIn)} in` : 'entry'}
                      {n.callsOut ? ` · ${formatValue(n.callsOut)} out` : ''}
                    </text>
                  </g>
                ))}
              </svg>
            </div>
          </section>
          {node && <ServicePanel node={node} edges={layout.edges} range={range} />}
        </div>
      )}
    </div>
  );
}

function Edge({ edge, nodes, active }: { edge: MapEdge; nodes: MapNode[]; active: boolean }) {
  const a = nodes.find((n) => n.id === edge.from);
  const b = nodes.find((n) => n.id === edge.to);
  if (!a || !b) return null;
  let d: string;
  let lx: number;
  let ly: number;
  if (a === b) {
    const x = a.x + NODE_W - 24;
    d = `M${x},${a.y} C${x},${a.y - 34} ${x + 40},${a.y - 34} ${x + 24},${a.y}`;
    lx = x + 12;
    ly = a.y - 30;
  } else if (edge.back) {
    const x1 = a.x + NODE_W / 2;
    const x2 = b.x + NODE_W / 2;
    const y = Math.max(a.y, b.y) + NODE_H + 36;
    d = `M${x1},${a.y + NODE_H} C${x1},${y} ${x2},${y} ${x2},${b.y + NODE_H}`;
    lx = (x1 + x2) / 2;
    ly = y - 6;
  } else {
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`;
    lx = mx;
    ly = (y1 + y2) / 2 - 5;
  }
  return (
    <g className={active ? 'map-edge active' : 'map-edge'}>
      <path d={d} markerEnd="url(#arrow)" />
      <text x={lx} y={ly} textAnchor="middle" className="map-edge-label">
        {formatValue(edge.calls)}
      </text>
    </g>
  );
}

function ServicePanel({ node, edges, range }: { node: MapNode; edges: MapEdge[]; range: { from: string; to: string } }) {
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
      </div>
      <CallTable title="Called by" rows={callers.map((e) => [e.from, e.calls])} />
      <CallTable title="Calls" rows={callees.map((e) => [e.to, e.calls])} />
      <p className="muted small">
        Rate, error and latency graphs for this service appear here once the server derives span metrics.
      </p>
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
