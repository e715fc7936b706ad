// Dashboards: the built-in dashboards and the user's own (stored by the
// server), with import of sightline or Grafana JSON. Routes:
//   /dashboards              the list and the import form
//   /dashboards/new          the editor of a new dashboard
//   /dashboards/u/<uid>      a user dashboard
//   /dashboards/<id>         a built-in dashboard

import { useEffect, useRef, useState } from 'react';
import { ApiError, importDashboard, isAbort, listDashboards, type DashboardSummary } from '../api';
import type { PageProps } from '../App';
import { ErrorBox } from '../components/ErrorBox';
import { hrefFor, navigate, onLinkClick } from '../router';
import { BuiltinDashboardView } from './BuiltinDashboard';
import { BUILTIN_DASHBOARDS } from './builtin';
import './dashboards.css';
import { importNotesKey, UserDashboardPage } from './UserDashboard';

export function DashboardsPage(props: PageProps) {
  const parts = props.path.replace(/^\/dashboards\/?/, '').split('/');
  const first = decodeURIComponent(parts[0] ?? '');
  if (!first) return <DashboardList tenant={props.params.get('tenant') ?? ''} refreshKey={props.refreshKey} />;
  if (first === 'new') return <UserDashboardPage key="new" uid={null} {...props} />;
  if (first === 'u' && parts[1]) {
    const uid = decodeURIComponent(parts[1]);
    return <UserDashboardPage key={uid} uid={uid} {...props} />;
  }
  const d = BUILTIN_DASHBOARDS.find((x) => x.id === first);
  if (!d) {
    return (
      <div className="empty-state">
        <h2>No dashboard “{first}”</h2>
        <p>
          <a href={hrefFor('/dashboards')} onClick={onLinkClick}>
            See all dashboards
          </a>
        </p>
      </div>
    );
  }
  return <BuiltinDashboardView dashboard={d} {...props} />;
}

function DashboardList({ tenant, refreshKey }: { tenant: string; refreshKey: number }) {
  const [mine, setMine] = useState<DashboardSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [importing, setImporting] = useState(false);

  useEffect(() => {
    const ac = new AbortController();
    listDashboards(ac.signal).then(
      (l) => {
        setMine(l);
        setError(null);
      },
      (err: unknown) => {
        if (!isAbort(err)) setError(err);
      },
    );
    return () => ac.abort();
  }, [tenant, refreshKey]);

  return (
    <div className="page">
      <section>
        <div className="ud-section-head">
          <h2 className="section-title">Your dashboards</h2>
          <div className="spacer" />
          <button type="button" className="btn" onClick={() => setImporting((v) => !v)} aria-expanded={importing}>
            Import JSON
          </button>
          <a className="btn primary" href={hrefFor('/dashboards/new')} onClick={onLinkClick}>
            New dashboard
          </a>
        </div>
        {importing && <ImportForm onClose={() => setImporting(false)} />}
        {error !== null ? (
          <ErrorBox error={error} title="Cannot list your dashboards" />
        ) : mine === null ? (
          <div className="muted">Loading…</div>
        ) : mine.length === 0 ? (
          <div className="card pending-inline">
            No dashboards saved yet. Create one, or import a dashboard exported from sightline or Grafana (panels with Prometheus
            queries).
          </div>
        ) : (
          <div className="dashboard-grid" aria-label="Your dashboards">
            {mine.map((d) => (
              <a key={d.uid} className="card dashboard-card" href={hrefFor(`/dashboards/u/${encodeURIComponent(d.uid)}`)} onClick={onLinkClick}>
                <h3>{d.title}</h3>
                <p>{d.description || <span className="muted">No description</span>}</p>
                <span className="ud-card-foot">
                  <span className="muted small">
                    {d.panels} panel{d.panels === 1 ? '' : 's'} · version {d.version}
                  </span>
                  {d.source === 'grafana' && <span className="badge">Grafana import</span>}
                  {(d.tags ?? []).slice(0, 4).map((t) => (
                    <span key={t} className="chip">
                      {t}
                    </span>
                  ))}
                </span>
              </a>
            ))}
          </div>
        )}
      </section>
      <section>
        <h2 className="section-title">Built-in</h2>
        <div className="dashboard-grid">
          {BUILTIN_DASHBOARDS.map((d) => (
            <a key={d.id} className="card dashboard-card" href={hrefFor(`/dashboards/${d.id}`)} onClick={onLinkClick}>
              <h3>{d.title}</h3>
              <p>{d.description}</p>
              <span className="muted small">{d.panels.length} panels</span>
            </a>
          ))}
        </div>
      </section>
    </div>
  );
}

/** Paste or upload sightline or Grafana dashboard JSON and import it. */
function ImportForm({ onClose }: { onClose: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const file = useRef<HTMLInputElement>(null);
  const exists = error instanceof ApiError && error.status === 409;

  const run = async (mode: '' | 'overwrite' | 'copy') => {
    setBusy(true);
    try {
      const res = await importDashboard(text, mode);
      const notes = [
        `Imported from ${res.format === 'grafana' ? 'a Grafana dashboard' : 'sightline JSON'}.`,
        ...res.warnings,
      ];
      if (res.warnings.length > 0) sessionStorage.setItem(importNotesKey(res.dashboard.uid), JSON.stringify(notes));
      navigate(hrefFor(`/dashboards/u/${encodeURIComponent(res.dashboard.uid)}`));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card ud-import" aria-label="Import a dashboard">
      <div className="card-head">
        <h2>Import a dashboard</h2>
        <span className="muted small">
          sightline export JSON, or a Grafana dashboard: time series, graph, stat and table panels with Prometheus queries are
          converted; any other panel is kept as a note.
        </span>
      </div>
      <div className="ud-import-body">
        <textarea
          className="input mono ud-import-text"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setError(null);
          }}
          placeholder='Paste dashboard JSON here, e.g. {"title": "…", "panels": […]}'
          aria-label="Dashboard JSON"
          spellCheck={false}
        />
        {error !== null && <ErrorBox error={error} title={exists ? 'A dashboard with this uid exists' : 'Not imported'} />}
        <div className="ud-row">
          <input
            ref={file}
            type="file"
            accept="application/json,.json"
            className="ud-file"
            aria-label="Dashboard JSON file"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (!f) return;
              f.text().then(
                (t) => {
                  setText(t);
                  setError(null);
                },
                (err: unknown) => setError(err),
              );
            }}
          />
          <button type="button" className="btn" onClick={() => file.current?.click()}>
            Choose file…
          </button>
          <div className="spacer" />
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          {exists ? (
            <>
              <button type="button" className="btn" disabled={busy} onClick={() => void run('copy')}>
                Import as a copy
              </button>
              <button type="button" className="btn primary" disabled={busy} onClick={() => void run('overwrite')}>
                Replace it
              </button>
            </>
          ) : (
            <button type="button" className="btn primary" disabled={busy || !text.trim()} onClick={() => void run('')}>
              {busy ? 'Importing…' : 'Import'}
            </button>
          )}
        </div>
      </div>
    </section>
  );
}
