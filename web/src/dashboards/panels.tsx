// The panels of a user dashboard: a time-series graph, a stat (the latest
// value of each series), a table (latest values with their labels), and a
// note for a panel an import could not convert. Each panel runs its own
// queries and shows the server's error in place of its drawing.

import { useEffect, useMemo, useState } from 'react';
import {
  errorMessage,
  isAbort,
  queryInstant,
  queryRange,
  type DashboardPanel,
  type InstantVectorSample,
  type Labels,
  type QueryData,
  type RangeSeries,
} from '../api';
import { applyLegend, buildChart } from '../chartdata';
import { TimeSeriesChart } from '../components/TimeSeriesChart';
import { parseSample, seriesName } from '../format';
import { hrefFor, onLinkClick, setParams } from '../router';
import type { ResolvedRange } from '../time';
import { formatterFor, GRID_GAP_PX, GRID_ROW_PX } from './model';

const MAX_SERIES = 60;
const MAX_TABLE_ROWS = 500;

export interface PanelViewProps {
  panel: DashboardPanel;
  /** The panel's queries with variables expanded. */
  exprs: string[];
  range: ResolvedRange;
  step: number;
  refreshKey: number;
  tenant: string;
}

/** Pixel height of a panel h grid rows tall. */
export function panelHeight(h: number): number {
  return h * GRID_ROW_PX + (h - 1) * GRID_GAP_PX;
}

/** One panel in its grid cell. */
export function DashboardPanelView(props: PanelViewProps) {
  const { panel, exprs } = props;
  const g = panel.gridPos;
  const style = { gridColumn: `${g.x + 1} / span ${g.w}`, gridRow: `${g.y + 1} / span ${g.h}` };
  const [loading, setLoading] = useState(false);
  return (
    <section className={`card panel ud-panel ud-type-${panel.type}`} style={style} aria-label={panel.title || 'Untitled panel'} data-panel-id={panel.id}>
      <div className="panel-head">
        <h3 title={panel.title}>{panel.title || <span className="muted">Untitled</span>}</h3>
        {loading && <span className="spinner" aria-label="Loading" />}
        <div className="spacer" />
        {panel.type !== 'unsupported' && exprs.length > 0 && (
          <a className="panel-link" href={hrefFor('/graph', { q: exprs })} onClick={onLinkClick} title="Open these queries in the metrics explorer">
            Explore
          </a>
        )}
      </div>
      <div className="ud-body">
        {panel.type !== 'unsupported' && exprs.length === 0 && <div className="panel-empty ud-fill">No query yet: write one and run it</div>}
        {panel.type === 'timeseries' && exprs.length > 0 && <GraphBody {...props} onLoading={setLoading} />}
        {panel.type === 'stat' && exprs.length > 0 && <InstantBody {...props} onLoading={setLoading} kind="stat" />}
        {panel.type === 'table' && exprs.length > 0 && <InstantBody {...props} onLoading={setLoading} kind="table" />}
        {panel.type === 'unsupported' && <UnsupportedBody panel={panel} />}
      </div>
    </section>
  );
}

type BodyProps = PanelViewProps & { onLoading: (b: boolean) => void };

function useQueries<T>(
  run: (signal: AbortSignal) => Promise<T>,
  deps: unknown[],
  onLoading: (b: boolean) => void,
): { data: T | null; error: unknown } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const ac = new AbortController();
    onLoading(true);
    run(ac.signal).then(
      (d) => {
        setData(d);
        setError(null);
        onLoading(false);
      },
      (err: unknown) => {
        if (isAbort(err)) return;
        setError(err);
        onLoading(false);
      },
    );
    return () => ac.abort();
  }, deps);
  return { data, error };
}

function GraphBody({ panel, exprs, range, step, refreshKey, tenant, onLoading }: BodyProps) {
  const { data, error } = useQueries<RangeSeries[][]>(
    (signal) => Promise.all(exprs.map((q) => queryRange(q, range.start, range.end, step, signal).then((r) => r.data.result))),
    [exprs.join('\n'), range.start, range.end, step, refreshKey, tenant],
    onLoading,
  );
  const chart = useMemo(() => {
    if (!data) return null;
    const groups = data.map((series, i) => ({
      series,
      label: (m: Labels) => applyLegend(panel.queries?.[i]?.legend ?? '', m).trim() || seriesName(m),
    }));
    return buildChart(groups, range.start, range.end, step, MAX_SERIES);
  }, [data, panel, range.start, range.end, step]);
  const format = useMemo(() => formatterFor(panel.unit), [panel.unit]);
  if (error !== null) return <PanelError error={error} />;
  if (!chart) return <div className="panel-empty ud-fill" />;
  if (chart.data.series.length === 0) return <div className="panel-empty ud-fill">No data</div>;
  // Room for the header, the chart's padding and the legend under the plot
  // (one line for a few series, two, scrolling, for more).
  const height = Math.max(80, panelHeight(panel.gridPos.h) - (chart.data.series.length <= 4 ? 88 : 120));
  return (
    <TimeSeriesChart
      data={chart.data}
      height={height}
      format={format}
      onZoom={(a, b) => setParams({ from: String(Math.floor(a * 1000)), to: String(Math.ceil(b * 1000)) }, true)}
    />
  );
}

interface Row {
  labels: Labels;
  legend: string;
  value: number;
}

function rowsOf(data: QueryData, legend: string): Row[] {
  const label = (m: Labels) => applyLegend(legend, m).trim() || seriesName(m);
  switch (data.resultType) {
    case 'vector':
      return data.result.map((s: InstantVectorSample) => ({
        labels: s.metric,
        legend: label(s.metric),
        value: s.value ? parseSample(s.value[1]) : s.histogram ? parseSample(s.histogram[1].count) : NaN,
      }));
    case 'scalar':
      return [{ labels: {}, legend: legend || 'scalar', value: parseSample(data.result[1]) }];
    default:
      return [];
  }
}

function InstantBody({ panel, exprs, range, refreshKey, tenant, onLoading, kind }: BodyProps & { kind: 'stat' | 'table' }) {
  const { data, error } = useQueries<Row[]>(
    (signal) =>
      Promise.all(exprs.map((q, i) => queryInstant(q, range.end, signal).then((r) => rowsOf(r.data, panel.queries?.[i]?.legend ?? '')))).then(
        (parts) => parts.flat(),
      ),
    [exprs.join('\n'), range.end, refreshKey, tenant],
    onLoading,
  );
  const format = useMemo(() => formatterFor(panel.unit), [panel.unit]);
  if (error !== null) return <PanelError error={error} />;
  if (!data) return <div className="panel-empty ud-fill" />;
  if (data.length === 0) return <div className="panel-empty ud-fill">No data</div>;
  if (kind === 'stat') {
    const shown = data.slice(0, 12);
    return (
      <div className={`ud-stats${shown.length === 1 ? ' single' : ''}`}>
        {shown.map((r, i) => (
          <div className="ud-stat" key={i} title={seriesName(r.labels)}>
            <div className="ud-stat-value">{format(r.value)}</div>
            {(shown.length > 1 || Object.keys(r.labels).length > 0) && <div className="ud-stat-label">{r.legend}</div>}
          </div>
        ))}
        {data.length > shown.length && <div className="muted small">and {data.length - shown.length} more series</div>}
      </div>
    );
  }
  const keys = [...new Set(data.flatMap((r) => Object.keys(r.labels)))].filter((k) => k !== '__name__').sort();
  const hasName = data.some((r) => r.labels.__name__);
  const rows = data.slice(0, MAX_TABLE_ROWS);
  return (
    <div className="ud-table-wrap">
      <table className="ud-table">
        <thead>
          <tr>
            {hasName && <th>metric</th>}
            {keys.map((k) => (
              <th key={k}>{k}</th>
            ))}
            <th className="num">value</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {hasName && <td>{r.labels.__name__ ?? ''}</td>}
              {keys.map((k) => (
                <td key={k}>{r.labels[k] ?? ''}</td>
              ))}
              <td className="num">{format(r.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data.length > rows.length && <div className="muted small">First {rows.length} of {data.length} rows.</div>}
    </div>
  );
}

function UnsupportedBody({ panel }: { panel: DashboardPanel }) {
  const queries = (panel.queries ?? []).filter((q) => q.expr);
  return (
    <div className="ud-unsupported" role="note">
      <div className="ud-unsupported-head">
        <span className="badge">unsupported panel{panel.originalType ? `: ${panel.originalType}` : ''}</span>
      </div>
      {panel.note && <p>{panel.note}</p>}
      {queries.length > 0 && (
        <ul className="ud-unsupported-queries">
          {queries.map((q, i) => (
            <li key={i}>
              <code>{q.expr}</code>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function PanelError({ error }: { error: unknown }) {
  return (
    <div className="panel-error ud-fill" role="alert">
      {errorMessage(error)}
    </div>
  );
}
