// The view of a built-in dashboard: its panels over the range, filtered by
// the dashboard's one variable and, for span metrics, by the tenant in the URL. PanelView is also used by the service map.

import { useEffect, useMemo, useState } from 'react';
import { errorMessage, isAbort, labelValues, queryRange, type Labels, type RangeSeries } from '../api';
import type { PageProps } from '../App';
import { applyLegend, buildChart } from '../chartdata';
import { ErrorBox } from '../components/ErrorBox';
import { TimeSeriesChart } from '../components/TimeSeriesChart';
import { unitFormatter } from '../format';
import { hrefFor, onLinkClick, setParams } from '../router';
import { autoStep, formatDuration, resolveRange, type RangeSpec } from '../time';
import { expandQuery, expandSelector, type Dashboard, type Panel } from './builtin';

const MAX_PANEL_SERIES = 60;

export function BuiltinDashboardView({ dashboard: d, range, params, refreshKey }: PageProps & { dashboard: Dashboard }) {
  const value = params.get('var') ?? '';
  const [values, setValues] = useState<string[] | null>(null);
  const [varError, setVarError] = useState<unknown>(null);
  const tenant = params.get('tenant') ?? '';

  useEffect(() => {
    const ac = new AbortController();
    let r;
    try {
      r = resolveRange(range);
    } catch {
      return;
    }
    labelValues(d.variable.label, [expandSelector(d.variable.from, tenant)], r.start, r.end, ac.signal).then(
      (v) => {
        setValues(v);
        setVarError(null);
      },
      (err: unknown) => {
        if (!isAbort(err)) setVarError(err);
      },
    );
    return () => ac.abort();
  }, [d, range.from, range.to, refreshKey, tenant]);

  return (
    <div className="page dashboard-page">
      <div className="dashboard-head">
        <a className="muted" href={hrefFor('/dashboards')} onClick={onLinkClick}>
          Dashboards
        </a>
        <span className="muted">/</span>
        <h2>{d.title}</h2>
        <div className="spacer" />
        <label className="inline-field">
          <span>{d.variable.label}</span>
          <select
            className="select var-select"
            value={value}
            onChange={(e) => setParams({ var: e.target.value || null }, true)}
          >
            <option value="">All</option>
            {value && !(values ?? []).includes(value) && <option value={value}>{value}</option>}
            {(values ?? []).map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
      </div>
      {varError !== null && <ErrorBox error={varError} title={`Cannot list ${d.variable.label} values`} />}
      {values !== null && values.length === 0 && varError === null && (
        <div className="note flush">
          No series <code>{expandSelector(d.variable.from, tenant)}</code> in this time range: the panels below stay empty until such
          metrics arrive.
        </div>
      )}
      <div className="panel-grid">
        {d.panels.map((p) => (
          <PanelView key={p.title} panel={p} dashboard={d} value={value} range={range} refreshKey={refreshKey} tenant={tenant} />
        ))}
      </div>
    </div>
  );
}

export interface PanelProps {
  panel: Panel;
  dashboard: Dashboard;
  value: string;
  range: RangeSpec;
  refreshKey: number;
  tenant: string;
}

interface PanelResult {
  series: RangeSeries[][];
  start: number;
  end: number;
  step: number;
}

/** One dashboard panel: its queries over the range as a graph (also used by the service map). */
export function PanelView({ panel, dashboard, value, range, refreshKey, tenant }: PanelProps) {
  const [result, setResult] = useState<PanelResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [exprs, setExprs] = useState<string[]>([]);

  useEffect(() => {
    const ac = new AbortController();
    let r;
    try {
      r = resolveRange(range);
    } catch (err) {
      setError(err);
      return;
    }
    const step = autoStep(r, 200);
    const rate = formatDuration(Math.max(60, 4 * step));
    const qs = panel.queries.map((q) => expandQuery(q.expr, dashboard, value, rate, tenant));
    setExprs(qs);
    setLoading(true);
    Promise.all(qs.map((q) => queryRange(q, r.start, r.end, step, ac.signal))).then(
      (res) => {
        setResult({ series: res.map((x) => x.data.result), start: r.start, end: r.end, step });
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
  }, [panel, dashboard, value, range.from, range.to, refreshKey, tenant]);

  const chart = useMemo(() => {
    if (!result) return null;
    const groups = result.series.map((series, i) => ({
      series,
      label: (m: Labels) => applyLegend(panel.queries[i]?.legend ?? '', m).trim() || JSON.stringify(m),
    }));
    return buildChart(groups, result.start, result.end, result.step, MAX_PANEL_SERIES);
  }, [result, panel]);
  const format = useMemo(() => unitFormatter(panel.unit), [panel.unit]);

  return (
    <section className="card panel" aria-label={panel.title}>
      <div className="panel-head">
        <h3>{panel.title}</h3>
        {loading && <span className="spinner" aria-label="Loading" />}
        <div className="spacer" />
        <a
          className="panel-link"
          href={hrefFor('/graph', { q: exprs })}
          onClick={onLinkClick}
          title="Open these queries in the metrics explorer"
        >
          Explore
        </a>
      </div>
      {error !== null ? (
        <div className="panel-error" role="alert">
          {errorMessage(error)}
        </div>
      ) : chart && chart.data.series.length > 0 ? (
        <TimeSeriesChart
          data={chart.data}
          height={190}
          format={format}
          onZoom={(a, b) => setParams({ from: String(Math.floor(a * 1000)), to: String(Math.ceil(b * 1000)) }, true)}
        />
      ) : (
        <div className="panel-empty">{result ? 'No data' : ''}</div>
      )}
    </section>
  );
}
