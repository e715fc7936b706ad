// A user dashboard stored by the server: its variables and panels on the
// grid, and the editor that changes and saves it (with the server's
// version check: a save over someone else's newer save is refused, not lost).

import { useEffect, useMemo, useState } from 'react';
import {
  ApiError,
  createDashboard,
  deleteDashboard,
  exportDashboard,
  getDashboard,
  isAbort,
  labelValues,
  saveDashboard,
  type DashboardPanel,
  type DashboardPanelType,
  type DashboardVariable,
  type StoredDashboard,
} from '../api';
import type { PageProps } from '../App';
import { ErrorBox, WarningBox } from '../components/ErrorBox';
import { PromQLEditor } from '../components/PromQLEditor';
import { hrefFor, navigate, onLinkClick, setParams } from '../router';
import { autoStep, resolveRange, type ResolvedRange } from '../time';
import {
  ALL,
  blankPanel,
  expandExpr,
  flowLayout,
  HEIGHTS,
  parseLabelValues,
  pickValue,
  readingOrder,
  UNITS,
  varParam,
  WIDTHS,
} from './model';
import { DashboardPanelView } from './panels';

/** sessionStorage key under which an import leaves its warnings for the dashboard view. */
export function importNotesKey(uid: string): string {
  return `sightline.import-notes.${uid}`;
}

const NEW_DASHBOARD: StoredDashboard = { uid: '', title: '', panels: [], version: 0 };

/** /dashboards/u/<uid> (view, edit) and /dashboards/new (editor of a new dashboard). */
export function UserDashboardPage(props: PageProps & { uid: string | null }) {
  const { uid } = props;
  const [dash, setDash] = useState<StoredDashboard | null>(uid === null ? NEW_DASHBOARD : null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState(uid === null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    if (uid === null) return;
    const ac = new AbortController();
    setError(null);
    getDashboard(uid, ac.signal).then(setDash, (err: unknown) => {
      if (!isAbort(err)) setError(err);
    });
    return () => ac.abort();
  }, [uid, reload, props.params.get('tenant')]);

  if (error !== null) {
    return (
      <div className="page">
        <Breadcrumb title={uid ?? 'New dashboard'} />
        <ErrorBox error={error} title={`Cannot open dashboard ${uid}`} />
      </div>
    );
  }
  if (!dash) return <div className="empty-result">Loading dashboard {uid}…</div>;
  if (editing) {
    return (
      <DashboardEditor
        initial={dash}
        {...props}
        onSaved={(d) => {
          setDash(d);
          setEditing(false);
          if (uid === null) navigate(hrefFor(`/dashboards/u/${encodeURIComponent(d.uid)}`), true);
        }}
        onCancel={() => {
          if (uid === null) navigate(hrefFor('/dashboards'));
          else setEditing(false);
        }}
        onReload={() => {
          setEditing(false);
          setReload((r) => r + 1);
        }}
      />
    );
  }
  return <DashboardView dash={dash} {...props} onEdit={() => setEditing(true)} />;
}

function Breadcrumb({ title, children }: { title: React.ReactNode; children?: React.ReactNode }) {
  return (
    <div className="dashboard-head ud-head">
      <a className="muted" href={hrefFor('/dashboards')} onClick={onLinkClick}>
        Dashboards
      </a>
      <span className="muted">/</span>
      <h2>{title}</h2>
      {children}
    </div>
  );
}

/** The values each variable offers, loaded from the server for query variables. */
function useVariableOptions(vars: DashboardVariable[], range: ResolvedRange | null, refreshKey: number, tenant: string) {
  const [options, setOptions] = useState<Record<string, string[]>>({});
  const [errors, setErrors] = useState<Record<string, unknown>>({});
  const key = JSON.stringify(vars);
  useEffect(() => {
    const ac = new AbortController();
    const fixed: Record<string, string[]> = {};
    for (const v of vars) if (v.type === 'custom') fixed[v.name] = v.options ?? [];
    setOptions((o) => ({ ...o, ...fixed }));
    setErrors({});
    for (const v of vars) {
      if (v.type !== 'query' || !range) continue;
      const lv = parseLabelValues(v.query ?? '');
      if (!lv) {
        setErrors((e) => ({ ...e, [v.name]: new Error(`cannot read ${v.query}: use label_values(selector, label)`) }));
        continue;
      }
      labelValues(lv.label, lv.selector ? [lv.selector] : [], range.start, range.end, ac.signal).then(
        (vals) => setOptions((o) => ({ ...o, [v.name]: vals })),
        (err: unknown) => {
          if (!isAbort(err)) setErrors((e) => ({ ...e, [v.name]: err }));
        },
      );
    }
    return () => ac.abort();
  }, [key, range?.start, range?.end, refreshKey, tenant]);
  return { options, errors };
}

function resolve(range: PageProps['range']): { r: ResolvedRange | null; err: unknown } {
  try {
    return { r: resolveRange(range), err: null };
  } catch (err) {
    return { r: null, err };
  }
}

function DashboardView({ dash, range, params, refreshKey, onEdit }: PageProps & { dash: StoredDashboard; onEdit: () => void }) {
  const tenant = params.get('tenant') ?? '';
  const { r, err: rangeErr } = useMemo(() => resolve(range), [range.from, range.to, refreshKey]);
  const vars = dash.variables ?? [];
  const { options, errors } = useVariableOptions(vars, r, refreshKey, tenant);
  const values: Record<string, string> = {};
  for (const v of vars) values[v.name] = pickValue(v, params.get(varParam(v.name)), options[v.name] ?? []);
  const [notes, setNotes] = useState<string[]>(() => {
    const raw = sessionStorage.getItem(importNotesKey(dash.uid));
    return raw ? (JSON.parse(raw) as string[]) : [];
  });
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const [exporting, setExporting] = useState(false);

  const doExport = async () => {
    setExporting(true);
    try {
      const text = await exportDashboard(dash.uid);
      const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${dash.uid}.json`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setActionError(null);
    } catch (e) {
      setActionError(e);
    } finally {
      setExporting(false);
    }
  };
  const doDelete = async () => {
    try {
      await deleteDashboard(dash.uid, dash.version);
      sessionStorage.removeItem(importNotesKey(dash.uid));
      navigate(hrefFor('/dashboards'));
    } catch (e) {
      setActionError(e);
      setConfirmDelete(false);
    }
  };

  const step = r ? autoStep(r, 200) : 60;
  const panels = readingOrder(dash.panels);
  return (
    <div className="page dashboard-page ud-page">
      <Breadcrumb title={dash.title}>
        {dash.source === 'grafana' && <span className="badge" title="Imported from a Grafana dashboard">Grafana import</span>}
        {(dash.tags ?? []).map((t) => (
          <span key={t} className="chip">
            {t}
          </span>
        ))}
        <div className="spacer" />
        <span className="muted small" title={dash.updated ? `Saved ${new Date(dash.updated).toLocaleString()}` : undefined}>
          version {dash.version}
        </span>
        <button type="button" className="btn" onClick={onEdit}>
          Edit
        </button>
        <button type="button" className="btn" onClick={() => void doExport()} disabled={exporting}>
          Export JSON
        </button>
        {confirmDelete ? (
          <>
            <button type="button" className="btn danger" onClick={() => void doDelete()}>
              Delete for good
            </button>
            <button type="button" className="btn" onClick={() => setConfirmDelete(false)}>
              Keep
            </button>
          </>
        ) : (
          <button type="button" className="btn" onClick={() => setConfirmDelete(true)}>
            Delete
          </button>
        )}
      </Breadcrumb>
      {dash.description && <p className="muted ud-description">{dash.description}</p>}
      {actionError !== null && <ErrorBox error={actionError} />}
      {notes.length > 0 && (
        <div className="ud-notes">
          <WarningBox warnings={notes} />
          <button
            type="button"
            className="btn small-btn"
            onClick={() => {
              sessionStorage.removeItem(importNotesKey(dash.uid));
              setNotes([]);
            }}
          >
            Dismiss
          </button>
        </div>
      )}
      {vars.length > 0 && (
        <div className="ud-vars" aria-label="Variables">
          {vars.map((v) => (
            <label key={v.name} className="inline-field">
              <span>{v.label || v.name}</span>
              <select
                className="select var-select"
                value={values[v.name]}
                onChange={(e) => setParams({ [varParam(v.name)]: e.target.value }, true)}
              >
                {v.includeAll && <option value={ALL}>All</option>}
                {values[v.name] !== ALL && !(options[v.name] ?? []).includes(values[v.name] ?? '') && (
                  <option value={values[v.name]}>{values[v.name] || '(none)'}</option>
                )}
                {(options[v.name] ?? []).map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
              {errors[v.name] !== undefined && <span className="danger-text small">cannot list values</span>}
            </label>
          ))}
        </div>
      )}
      {rangeErr !== null && <ErrorBox error={rangeErr} title="Invalid time range" />}
      {panels.length === 0 ? (
        <div className="empty-state">
          <h2>No panels yet</h2>
          <p>
            <button type="button" className="btn primary" onClick={onEdit}>
              Add a panel
            </button>
          </p>
        </div>
      ) : (
        r && (
          <div className="ud-grid">
            {panels.map((p) => (
              <DashboardPanelView
                key={p.id}
                panel={p}
                exprs={(p.queries ?? []).filter((q) => q.expr).map((q) => expandExpr(q.expr, { values, step, range: r.end - r.start }))}
                range={r}
                step={step}
                refreshKey={refreshKey}
                tenant={tenant}
              />
            ))}
          </div>
        )
      )}
    </div>
  );
}

const PANEL_TYPES: { value: DashboardPanelType; label: string }[] = [
  { value: 'timeseries', label: 'Time series' },
  { value: 'stat', label: 'Stat' },
  { value: 'table', label: 'Table' },
];

interface EditorProps extends PageProps {
  initial: StoredDashboard;
  onSaved: (d: StoredDashboard) => void;
  onCancel: () => void;
  onReload: () => void;
}

function DashboardEditor({ initial, params, range, refreshKey, onSaved, onCancel, onReload }: EditorProps) {
  const tenant = params.get('tenant') ?? '';
  const [draft, setDraft] = useState<StoredDashboard>(() => ({
    ...initial,
    panels: readingOrder(initial.panels),
    variables: initial.variables ?? [],
  }));
  const [tagsText, setTagsText] = useState((initial.tags ?? []).join(', '));
  const [layoutDirty, setLayoutDirty] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const { r } = useMemo(() => resolve(range), [range.from, range.to, refreshKey]);

  const setPanel = (i: number, change: Partial<DashboardPanel>, layout = false) => {
    setDraft((d) => ({ ...d, panels: d.panels.map((p, k) => (k === i ? { ...p, ...change } : p)) }));
    if (layout) setLayoutDirty(true);
  };
  const movePanel = (i: number, by: number) => {
    setDraft((d) => {
      const panels = [...d.panels];
      const j = i + by;
      if (j < 0 || j >= panels.length) return d;
      [panels[i], panels[j]] = [panels[j]!, panels[i]!];
      return { ...d, panels };
    });
    setLayoutDirty(true);
  };
  const setVar = (i: number, change: Partial<DashboardVariable>) =>
    setDraft((d) => ({ ...d, variables: (d.variables ?? []).map((v, k) => (k === i ? { ...v, ...change } : v)) }));

  const save = async () => {
    setSaving(true);
    setError(null);
    const tags = tagsText
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const panels = layoutDirty ? flowLayout(draft.panels) : draft.panels;
    const body: StoredDashboard = { ...draft, tags, panels };
    try {
      const saved = body.uid ? await saveDashboard(body) : await createDashboard({ ...body, uid: undefined });
      onSaved(saved);
    } catch (e) {
      setError(e);
    } finally {
      setSaving(false);
    }
  };

  const conflict = error instanceof ApiError && error.status === 409;
  const step = r ? autoStep(r, 200) : 60;
  const values: Record<string, string> = {};
  for (const v of draft.variables ?? []) values[v.name] = pickValue(v, params.get(varParam(v.name)), v.options ?? []);

  return (
    <div className="page ud-editor">
      <Breadcrumb title={initial.uid ? `Edit “${initial.title}”` : 'New dashboard'}>
        <div className="spacer" />
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="btn primary" onClick={() => void save()} disabled={saving}>
          {saving ? 'Saving…' : 'Save dashboard'}
        </button>
      </Breadcrumb>
      {error !== null && (
        <div className="ud-save-error">
          <ErrorBox error={error} title={conflict ? 'Not saved: someone else saved this dashboard first' : 'Not saved'} />
          {conflict && (
            <button type="button" className="btn" onClick={onReload}>
              Discard my changes and load theirs
            </button>
          )}
        </div>
      )}
      <section className="card ud-form">
        <label className="ud-field wide">
          <span>Title</span>
          <input
            className="input"
            value={draft.title}
            placeholder="Checkout service"
            aria-label="Dashboard title"
            onChange={(e) => setDraft({ ...draft, title: e.target.value })}
          />
        </label>
        <label className="ud-field">
          <span>Tags</span>
          <input className="input" value={tagsText} placeholder="team-a, payments" onChange={(e) => setTagsText(e.target.value)} />
        </label>
        <label className="ud-field full">
          <span>Description</span>
          <input
            className="input"
            value={draft.description ?? ''}
            placeholder="What this dashboard answers"
            onChange={(e) => setDraft({ ...draft, description: e.target.value })}
          />
        </label>
      </section>

      <section className="card ud-form-section">
        <div className="card-head">
          <h2>Variables</h2>
          <span className="muted small">
            Queries use <code>$name</code>; <code>$__rate_interval</code> and <code>$__range</code> are set from the time range.
          </span>
          <div className="spacer" />
          <button
            type="button"
            className="btn small-btn"
            onClick={() =>
              setDraft((d) => ({
                ...d,
                variables: [...(d.variables ?? []), { name: `var${(d.variables ?? []).length + 1}`, type: 'query', query: 'label_values(up, job)', includeAll: true }],
              }))
            }
          >
            Add variable
          </button>
        </div>
        {(draft.variables ?? []).length === 0 ? (
          <div className="muted small ud-pad">No variables.</div>
        ) : (
          <div className="ud-var-rows">
            {(draft.variables ?? []).map((v, i) => (
              <div className="ud-var-row" key={i}>
                <input className="input ud-var-name" value={v.name} aria-label="Variable name" onChange={(e) => setVar(i, { name: e.target.value })} />
                <select
                  className="select"
                  value={v.type}
                  aria-label="Variable type"
                  onChange={(e) => setVar(i, { type: e.target.value as DashboardVariable['type'] })}
                >
                  <option value="query">Label values</option>
                  <option value="custom">Fixed list</option>
                </select>
                {v.type === 'query' ? (
                  <input
                    className="input mono ud-grow"
                    value={v.query ?? ''}
                    placeholder="label_values(up, job)"
                    aria-label="Variable query"
                    onChange={(e) => setVar(i, { query: e.target.value })}
                  />
                ) : (
                  <input
                    className="input ud-grow"
                    value={(v.options ?? []).join(', ')}
                    placeholder="a, b, c"
                    aria-label="Variable values"
                    onChange={(e) =>
                      setVar(i, {
                        options: e.target.value
                          .split(',')
                          .map((s) => s.trim())
                          .filter(Boolean),
                      })
                    }
                  />
                )}
                <label className="check">
                  <input type="checkbox" checked={!!v.includeAll} onChange={(e) => setVar(i, { includeAll: e.target.checked })} />
                  “All” option
                </label>
                <button
                  type="button"
                  className="btn small-btn"
                  onClick={() => setDraft((d) => ({ ...d, variables: (d.variables ?? []).filter((_, k) => k !== i) }))}
                >
                  Remove
                </button>
              </div>
            ))}
          </div>
        )}
      </section>

      {draft.panels.map((p, i) => (
        <PanelEditor
          key={p.id}
          panel={p}
          index={i}
          count={draft.panels.length}
          tenant={tenant}
          onChange={(c, layout) => setPanel(i, c, layout)}
          onMove={(by) => movePanel(i, by)}
          onRemove={() => {
            setDraft((d) => ({ ...d, panels: d.panels.filter((_, k) => k !== i) }));
            setLayoutDirty(true);
          }}
          preview={(shown) =>
            r ? (
              <div className="ud-preview-grid">
                <DashboardPanelView
                  panel={{ ...shown, gridPos: { x: 0, y: 0, w: 24, h: Math.min(shown.gridPos.h, 8) } }}
                  exprs={(shown.queries ?? []).filter((q) => q.expr.trim()).map((q) => expandExpr(q.expr, { values, step, range: r.end - r.start }))}
                  range={r}
                  step={step}
                  refreshKey={refreshKey}
                  tenant={tenant}
                />
              </div>
            ) : null
          }
        />
      ))}
      <div className="ud-add">
        <button
          type="button"
          className="btn primary"
          onClick={() => {
            setDraft((d) => ({ ...d, panels: [...d.panels, blankPanel(d)] }));
            setLayoutDirty(true);
          }}
        >
          Add panel
        </button>
        <span className="muted small">Panels are placed in this order, each as high up as it fits.</span>
      </div>
    </div>
  );
}

interface PanelEditorProps {
  panel: DashboardPanel;
  index: number;
  count: number;
  tenant: string;
  onChange: (c: Partial<DashboardPanel>, layout?: boolean) => void;
  onMove: (by: number) => void;
  onRemove: () => void;
  /** Draws the panel as it would look with the given (applied) queries. */
  preview: (p: DashboardPanel) => React.ReactNode;
}

function PanelEditor({ panel: p, index, count, tenant, onChange, onMove, onRemove, preview }: PanelEditorProps) {
  const queries = p.queries ?? [];
  // What the preview runs: the queries as of the last Run (Enter or the button).
  const [applied, setApplied] = useState(queries);
  const setQuery = (k: number, change: { expr?: string; legend?: string }) =>
    onChange({ queries: queries.map((q, j) => (j === k ? { ...q, ...change } : q)) });
  const run = () => setApplied(queries);
  return (
    <section className="card ud-panel-editor" aria-label={`Panel ${index + 1}`}>
      <div className="ud-panel-editor-form">
        <div className="ud-row">
          <span className="ud-index">{index + 1}</span>
          <input
            className="input ud-grow"
            value={p.title}
            placeholder="Panel title"
            aria-label="Panel title"
            onChange={(e) => onChange({ title: e.target.value })}
          />
          <button type="button" className="btn icon-btn" title="Move up" aria-label="Move up" disabled={index === 0} onClick={() => onMove(-1)}>
            ↑
          </button>
          <button type="button" className="btn icon-btn" title="Move down" aria-label="Move down" disabled={index === count - 1} onClick={() => onMove(1)}>
            ↓
          </button>
          <button type="button" className="btn small-btn" onClick={onRemove}>
            Remove panel
          </button>
        </div>
        <div className="ud-row">
          <select
            className="select"
            value={p.type}
            aria-label="Panel type"
            onChange={(e) => {
              const type = e.target.value as DashboardPanelType;
              // A stat needs less room than a graph: a new panel's default height follows its type.
              const h = type === 'stat' && p.gridPos.h === 8 ? 5 : type !== 'stat' && p.gridPos.h === 5 ? 8 : p.gridPos.h;
              onChange(
                {
                  type,
                  note: type === 'unsupported' ? p.note : undefined,
                  originalType: type === 'unsupported' ? p.originalType : undefined,
                  gridPos: { ...p.gridPos, h },
                },
                h !== p.gridPos.h,
              );
            }}
          >
            {p.type === 'unsupported' && <option value="unsupported">Unsupported ({p.originalType || 'unknown'})</option>}
            {PANEL_TYPES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
          <select className="select" value={p.unit || 'short'} aria-label="Unit" onChange={(e) => onChange({ unit: e.target.value as DashboardPanel['unit'] })}>
            {UNITS.map((u) => (
              <option key={u.value} value={u.value}>
                {u.label}
              </option>
            ))}
          </select>
          <select
            className="select"
            value={p.gridPos.w}
            aria-label="Width"
            onChange={(e) => onChange({ gridPos: { ...p.gridPos, w: Number(e.target.value) } }, true)}
          >
            {!WIDTHS.some((w) => w.w === p.gridPos.w) && <option value={p.gridPos.w}>{p.gridPos.w}/24 width</option>}
            {WIDTHS.map((w) => (
              <option key={w.w} value={w.w}>
                {w.label}
              </option>
            ))}
          </select>
          <select
            className="select"
            value={p.gridPos.h}
            aria-label="Height"
            onChange={(e) => onChange({ gridPos: { ...p.gridPos, h: Number(e.target.value) } }, true)}
          >
            {!HEIGHTS.some((h) => h.h === p.gridPos.h) && <option value={p.gridPos.h}>{p.gridPos.h} rows</option>}
            {HEIGHTS.map((h) => (
              <option key={h.h} value={h.h}>
                {h.label}
              </option>
            ))}
          </select>
        </div>
        {p.type === 'unsupported' && p.note && <div className="note flush small">{p.note}</div>}
        {queries.map((q, k) => (
          <div className="ud-query" key={k}>
            <PromQLEditor
              value={q.expr}
              onChange={(v) => setQuery(k, { expr: v })}
              onRun={run}
              tenant={tenant}
              label={`Panel ${index + 1} query ${k + 1}`}
              placeholder="PromQL, e.g. sum by (job) (rate(http_requests_total[$__rate_interval]))"
            />
            <div className="ud-row">
              <input
                className="input ud-grow"
                value={q.legend ?? ''}
                placeholder="Legend, e.g. {{job}}"
                aria-label={`Panel ${index + 1} legend ${k + 1}`}
                onChange={(e) => setQuery(k, { legend: e.target.value })}
              />
              {queries.length > 1 && (
                <button type="button" className="btn small-btn" onClick={() => onChange({ queries: queries.filter((_, j) => j !== k) })}>
                  Remove query
                </button>
              )}
            </div>
          </div>
        ))}
        <div className="ud-row">
          <button type="button" className="btn small-btn" onClick={() => onChange({ queries: [...queries, { expr: '', legend: '' }] })}>
            Add query
          </button>
          <button type="button" className="btn small-btn" onClick={run}>
            Run queries
          </button>
        </div>
      </div>
      <div className="ud-panel-editor-preview">
        {preview({ ...p, queries: applied })}
      </div>
    </section>
  );
}
