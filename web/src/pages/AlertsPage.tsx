import { useEffect, useMemo, useState } from 'react';
import {
  alertHistory,
  alerts as fetchAlerts,
  createSilence,
  errorMessage,
  expireSilence,
  isAbort,
  rules as fetchRules,
  silences as fetchSilences,
  type Alert,
  type AlertHistoryEntry,
  type AlertState,
  type AlertingRule,
  type Rule,
  type RuleGroup,
  type Silence,
} from '../api';
import type { PageProps } from '../App';
import { ErrorBox } from '../components/ErrorBox';
import { hrefFor, onLinkClick, setParams } from '../router';
import { formatValue, parseSample } from '../format';
import { formatDuration } from '../time';
import { canonicalLink } from '../links';
import { logQueryOf, looksLikeLogQL } from '../logs/model';

interface Loaded {
  groups: RuleGroup[];
  alerts: Alert[];
  at: number;
}

type StateFilter = 'all' | AlertState | 'recording' | 'error';

const FILTERS: { id: StateFilter; label: string }[] = [
  { id: 'all', label: 'All rules' },
  { id: 'firing', label: 'Firing' },
  { id: 'pending', label: 'Pending' },
  { id: 'inactive', label: 'Inactive' },
  { id: 'recording', label: 'Recording' },
  { id: 'error', label: 'Errors' },
];

/** Alerting and recording rules with their state, and the active alerts grouped by name. */
export function AlertsPage({ params, refreshKey }: PageProps) {
  const [data, setData] = useState<Loaded | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const filter = (params.get('state') ?? 'all') as StateFilter;
  const search = params.get('search') ?? '';
  const tenant = params.get('tenant') ?? '';

  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    Promise.all([fetchRules(ac.signal), fetchAlerts(ac.signal)]).then(
      ([r, a]) => {
        setData({ groups: r.data.groups, alerts: a.data.alerts, at: Date.now() });
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
  }, [refreshKey, tenant]);

  const counts = useMemo(() => countRules(data?.groups ?? []), [data]);
  const [silenceTick, setSilenceTick] = useState(0);

  return (
    <div className="page alerts-page">
      {error !== null && <ErrorBox error={error} title="Cannot load rules and alerts" />}
      {data && (
        <div className="stat-row">
          <Stat label="Firing" value={counts.firing} tone={counts.firing ? 'danger' : undefined} />
          <Stat label="Pending" value={counts.pending} tone={counts.pending ? 'warning' : undefined} />
          <Stat label="Inactive" value={counts.inactive} />
          <Stat label="Recording rules" value={counts.recording} />
          <Stat label="Rule errors" value={counts.error} tone={counts.error ? 'danger' : undefined} />
          <div className="spacer" />
          <span className="muted small">
            {loading ? <span className="spinner" aria-label="Loading" /> : `Updated ${new Date(data.at).toLocaleTimeString()}`}
          </span>
        </div>
      )}
      {!data && loading && <div className="empty-result">Loading rules…</div>}

      {data && <ActiveAlerts alerts={data.alerts} groups={data.groups} onSilenced={() => setSilenceTick((t) => t + 1)} />}

      {data && (
        <section className="card" aria-label="Rules">
          <div className="card-head">
            <h2>Rules</h2>
            <div className="segmented" role="tablist" aria-label="Filter rules by state">
              {FILTERS.map((f) => (
                <button
                  key={f.id}
                  type="button"
                  role="tab"
                  aria-selected={filter === f.id}
                  className={filter === f.id ? 'active' : undefined}
                  onClick={() => setParams({ state: f.id === 'all' ? null : f.id }, true)}
                >
                  {f.label}
                </button>
              ))}
            </div>
            <input
              className="input search-input"
              placeholder="Filter by name or query"
              defaultValue={search}
              aria-label="Filter rules"
              onChange={(e) => setParams({ search: e.target.value || null })}
            />
          </div>
          <RuleGroups groups={data.groups} filter={filter} search={search} />
        </section>
      )}
      <Silences refreshKey={refreshKey + silenceTick} tenant={tenant} />
      <History refreshKey={refreshKey} tenant={tenant} />
    </div>
  );
}

function Stat({ label, value, tone }: { label: string; value: number; tone?: 'danger' | 'warning' }) {
  return (
    <div className={`stat${tone ? ' ' + tone : ''}`}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

function countRules(groups: RuleGroup[]) {
  const c = { firing: 0, pending: 0, inactive: 0, recording: 0, error: 0 };
  for (const g of groups)
    for (const r of g.rules) {
      if (r.health === 'err') c.error++;
      if (r.type === 'recording') c.recording++;
      else c[r.state]++;
    }
  return c;
}

/** Firing and pending alerts grouped by alert name, each with a link to its metric. */
function ActiveAlerts({ alerts, groups, onSilenced }: { alerts: Alert[]; groups: RuleGroup[]; onSilenced: () => void }) {
  const ruleQuery = new Map<string, string>();
  for (const g of groups) for (const r of g.rules) if (r.type === 'alerting') ruleQuery.set(r.name, r.query);
  const byName = new Map<string, Alert[]>();
  for (const a of alerts) {
    const n = a.labels.alertname ?? '(no alertname)';
    byName.set(n, [...(byName.get(n) ?? []), a]);
  }
  const names = [...byName.keys()].sort((x, y) => rankOf(byName.get(x)!) - rankOf(byName.get(y)!) || x.localeCompare(y));

  return (
    <section className="card" aria-label="Active alerts">
      <div className="card-head">
        <h2>Active alerts</h2>
        <span className="muted">{alerts.length === 0 ? 'none' : `${plural(alerts.length, 'alert')} in ${plural(names.length, 'group')}`}</span>
      </div>
      {alerts.length === 0 ? (
        <div className="empty-result">No alert is firing or pending.</div>
      ) : (
        <div className="alert-groups">
          {names.map((n) => {
            const list = byName.get(n)!;
            return (
              <div className="alert-group" key={n}>
                <div className="alert-group-head">
                  <StateBadge state={list.some((a) => a.state === 'firing') ? 'firing' : 'pending'} />
                  <strong>{n}</strong>
                  <span className="muted">{plural(list.length, 'alert')}</span>
                </div>
                <ul className="alert-list">
                  {list.map((a, i) => (
                    <AlertItem key={i} alert={a} query={ruleQuery.get(n)} onSilenced={onSilenced} />
                  ))}
                </ul>
              </div>
            );
          })}
        </div>
      )}
    </section>
  );
}

function rankOf(list: Alert[]): number {
  return list.some((a) => a.state === 'firing') ? 0 : 1;
}

function AlertItem({ alert, query, onSilenced }: { alert: Alert; query?: string; onSilenced: () => void }) {
  const [silencing, setSilencing] = useState(false);
  const active = alert.activeAt ? Date.parse(alert.activeAt) : NaN;
  const since = Number.isNaN(active) ? '' : formatDuration((Date.now() - active) / 1000);
  const summary = alert.annotations.summary ?? alert.annotations.description ?? '';
  const labels = Object.entries(alert.labels).filter(([k]) => k !== 'alertname');
  // Open the rule's expression over the firing window, with some context before it:
  // PromQL in the metrics explorer, LogQL (log rules) in the logs explorer.
  const window = Number.isNaN(active)
    ? undefined
    : { from: String(Math.floor(active - Math.max(15 * 60 * 1000, (Date.now() - active) * 0.5))), to: 'now' };
  const logRule = query !== undefined && looksLikeLogQL(query);
  const metricHref = query && window && !logRule ? hrefFor('/graph', { q: query, ...window }) : undefined;
  const logsHref = query && window && logRule ? hrefFor('/logs', { q: logQueryOf(query), ...window }) : undefined;
  const logGraphHref = query && window && logRule ? hrefFor('/logs', { q: query, ...window }) : undefined;
  return (
    <li className="alert-item">
      <div className="alert-main">
        {summary && <div className="alert-summary">{summary}</div>}
        <div className="chips">
          {labels.map(([k, v]) => (
            <span className="chip" key={k}>
              {k}=<b>{v}</b>
            </span>
          ))}
        </div>
      </div>
      <div className="alert-side">
        <span className="muted">
          {alert.state} {since && `for ${since}`} · value <span className="mono" title={alert.value}>{formatValue(parseSample(alert.value))}</span>
        </span>
        {metricHref && (
          <a className="btn small-btn" href={metricHref} onClick={onLinkClick}>
            Open metric
          </a>
        )}
        {logsHref && (
          <a className="btn small-btn" href={logsHref} onClick={onLinkClick} title="The log lines this rule counts">
            Open logs
          </a>
        )}
        {logGraphHref && (
          <a className="btn small-btn" href={logGraphHref} onClick={onLinkClick} title="The rule's LogQL metric query">
            Graph
          </a>
        )}
        <button type="button" className="btn small-btn" onClick={() => setSilencing((x) => !x)} aria-expanded={silencing}>
          Silence…
        </button>
      </div>
      {silencing && (
        <SilenceForm
          alert={alert}
          onDone={() => {
            setSilencing(false);
            onSilenced();
          }}
        />
      )}
    </li>
  );
}

function StateBadge({ state }: { state: AlertState | 'recording' | 'error' }) {
  return <span className={`badge badge-${state}`}>{state}</span>;
}

function matches(r: Rule, filter: StateFilter, search: string): boolean {
  if (search) {
    const s = search.toLowerCase();
    if (!r.name.toLowerCase().includes(s) && !r.query.toLowerCase().includes(s)) return false;
  }
  switch (filter) {
    case 'all':
      return true;
    case 'recording':
      return r.type === 'recording';
    case 'error':
      return r.health === 'err';
    default:
      return r.type === 'alerting' && r.state === filter;
  }
}

function RuleGroups({ groups, filter, search }: { groups: RuleGroup[]; filter: StateFilter; search: string }) {
  if (groups.length === 0) {
    return <div className="empty-result">The server has no rules loaded.</div>;
  }
  const shown = groups
    .map((g) => ({ g, rules: g.rules.filter((r) => matches(r, filter, search)) }))
    .filter((x) => x.rules.length > 0);
  if (shown.length === 0) return <div className="empty-result">No rule matches this filter.</div>;
  return (
    <div className="rule-groups">
      {shown.map(({ g, rules }) => (
        <div className="rule-group" key={`${g.file}/${g.name}`}>
          <div className="rule-group-head">
            <strong>{g.name}</strong>
            <span className="muted small">
              {g.file} · every {formatDuration(g.interval)}
              {g.lastEvaluation && ` · evaluated ${ago(g.lastEvaluation)}`}
            </span>
          </div>
          <table className="table rules-table">
            <thead>
              <tr>
                <th className="state-col">State</th>
                <th>Rule</th>
                <th>Expression</th>
                <th className="num">Last evaluation</th>
              </tr>
            </thead>
            <tbody>
              {rules.map((r) => (
                <RuleRow key={r.name + r.query} rule={r} />
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </div>
  );
}

function RuleRow({ rule }: { rule: Rule }) {
  const state = rule.type === 'recording' ? 'recording' : rule.state;
  const alerting = rule.type === 'alerting' ? (rule as AlertingRule) : undefined;
  return (
    <tr>
      <td className="state-col">
        <StateBadge state={rule.health === 'err' ? 'error' : state} />
      </td>
      <td>
        <div className="rule-name">{rule.name}</div>
        {alerting && alerting.duration > 0 && <div className="muted small">for {formatDuration(alerting.duration)}</div>}
        {rule.lastError && <div className="rule-error">{rule.lastError}</div>}
      </td>
      <td>
        <a
          className="mono rule-query"
          href={looksLikeLogQL(rule.query) ? hrefFor('/logs', { q: rule.query }) : hrefFor('/graph', { q: rule.query })}
          onClick={onLinkClick}
          title={looksLikeLogQL(rule.query) ? 'Open in the logs explorer' : 'Open in the metrics explorer'}
        >
          {rule.query}
        </a>
      </td>
      <td className="num muted">
        {rule.lastEvaluation ? ago(rule.lastEvaluation) : '—'}
        {rule.evaluationTime !== undefined && <div className="small">took {formatMs(rule.evaluationTime)}</div>}
      </td>
    </tr>
  );
}

function ago(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t) || t <= 0) return 'never';
  const s = Math.max(0, (Date.now() - t) / 1000);
  return s < 1 ? 'just now' : `${formatDuration(s)} ago`;
}

function formatMs(sec: number): string {
  const ms = sec * 1000;
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const SILENCE_FOR = [
  { label: '1 hour', ms: 3600_000 },
  { label: '4 hours', ms: 4 * 3600_000 },
  { label: '1 day', ms: 86400_000 },
  { label: '1 week', ms: 7 * 86400_000 },
];

/** Creates a silence matching every label of the alert, for a chosen time. */
function SilenceForm({ alert, onDone }: { alert: Alert; onDone: () => void }) {
  const [forMs, setForMs] = useState(SILENCE_FOR[0]!.ms);
  const [comment, setComment] = useState('');
  const [author, setAuthor] = useState(() => localStorage.getItem('sightline.silence.author') ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const matchers = Object.entries(alert.labels).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true }));
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const now = Date.now();
    setBusy(true);
    localStorage.setItem('sightline.silence.author', author);
    createSilence({
      matchers,
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + forMs).toISOString(),
      createdBy: author || 'sightline UI',
      comment: comment || 'silenced from the alerts page',
    }).then(onDone, (err: unknown) => {
      setError(err);
      setBusy(false);
    });
  };
  return (
    <form className="silence-form" onSubmit={submit} aria-label="New silence">
      <div className="muted small">
        Silences notifications of alerts matching{' '}
        {matchers.map((m) => (
          <code key={m.name} className="chip">
            {m.name}=&quot;{m.value}&quot;
          </code>
        ))}
      </div>
      <div className="silence-fields">
        <label className="inline-field">
          <span>for</span>
          <select className="select" value={forMs} onChange={(e) => setForMs(Number(e.target.value))} aria-label="Silence duration">
            {SILENCE_FOR.map((d) => (
              <option key={d.ms} value={d.ms}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
        <input className="input" placeholder="Your name" value={author} onChange={(e) => setAuthor(e.target.value)} aria-label="Created by" />
        <input
          className="input grow"
          placeholder="Why (e.g. deploy in progress)"
          value={comment}
          onChange={(e) => setComment(e.target.value)}
          aria-label="Comment"
        />
        <button type="submit" className="btn primary small-btn" disabled={busy}>
          Create silence
        </button>
      </div>
      {error !== null && (
        <div className="panel-error" role="alert">
          {errorMessage(error)}
        </div>
      )}
    </form>
  );
}

/** Active and pending silences with an Expire button; expired ones folded away. */
function Silences({ refreshKey, tenant }: { refreshKey: number; tenant: string }) {
  const [list, setList] = useState<Silence[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const [showExpired, setShowExpired] = useState(false);
  useEffect(() => {
    const ac = new AbortController();
    fetchSilences(ac.signal).then(
      (l) => {
        setList(l);
        setError(null);
      },
      (err: unknown) => {
        if (!isAbort(err)) setError(err);
      },
    );
    return () => ac.abort();
  }, [refreshKey, tenant, tick]);
  const live = (list ?? []).filter((x) => x.status.state !== 'expired').sort((a, b) => a.endsAt.localeCompare(b.endsAt));
  const expired = (list ?? []).filter((x) => x.status.state === 'expired');
  const shown = showExpired ? [...live, ...expired] : live;
  return (
    <section className="card" aria-label="Silences">
      <div className="card-head">
        <h2>Silences</h2>
        <span className="muted">{list ? `${live.length} active or pending` : ''}</span>
        <span className="spacer" />
        {expired.length > 0 && (
          <label className="inline-field small">
            <input type="checkbox" checked={showExpired} onChange={(e) => setShowExpired(e.target.checked)} /> show {expired.length} expired
          </label>
        )}
      </div>
      {error !== null && <ErrorBox error={error} title="Cannot load silences" />}
      {list && shown.length === 0 && <div className="empty-result">No silence is active. Silence an alert from its row above.</div>}
      {shown.length > 0 && (
        <table className="table silences-table">
          <thead>
            <tr>
              <th className="state-col">State</th>
              <th>Matchers</th>
              <th>Ends</th>
              <th className="nowrap">Created by</th>
              <th>Comment</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((x) => (
              <tr key={x.id}>
                <td className="state-col">
                  <span className={`badge badge-${x.status.state === 'active' ? 'pending' : 'inactive'}`}>{x.status.state}</span>
                </td>
                <td>
                  <div className="chips">
                    {x.matchers.map((m, i) => (
                      <code className="chip" key={i}>
                        {m.name}
                        {m.isEqual === false ? '!' : ''}
                        {m.isRegex ? '=~' : '='}&quot;{m.value}&quot;
                      </code>
                    ))}
                  </div>
                </td>
                <td className="muted nowrap">{new Date(x.endsAt).toLocaleString()}</td>
                <td className="nowrap">{x.createdBy}</td>
                <td>{x.comment}</td>
                <td className="num">
                  {x.status.state !== 'expired' && (
                    <button
                      type="button"
                      className="btn small-btn"
                      onClick={() => expireSilence(x.id).then(() => setTick((t) => t + 1), setError)}
                    >
                      Expire
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Rewrites a generator URL to this UI's metrics explorer (servers may link /metrics?g0.expr=…). */
function historyLink(e: AlertHistoryEntry): string | undefined {
  if (!e.generatorURL) return undefined;
  try {
    const u = new URL(e.generatorURL, window.location.origin);
    const path = u.pathname.replace(/\/+$/, '').endsWith('/metrics') ? '/graph' : u.pathname;
    return canonicalLink(path, u.search) ?? path + u.search;
  } catch {
    return undefined;
  }
}

/** The latest alert state changes, newest first. */
function History({ refreshKey, tenant }: { refreshKey: number; tenant: string }) {
  const [list, setList] = useState<AlertHistoryEntry[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const ac = new AbortController();
    alertHistory(ac.signal).then(
      (l) => {
        setList(l);
        setError(null);
      },
      (err: unknown) => {
        if (!isAbort(err)) setError(err);
      },
    );
    return () => ac.abort();
  }, [refreshKey, tenant]);
  const shown = (list ?? []).slice(0, 50);
  return (
    <section className="card" aria-label="Alert history">
      <div className="card-head">
        <h2>History</h2>
        <span className="muted">{list ? (list.length > shown.length ? `latest ${shown.length} of ${list.length}` : `${list.length} changes`) : ''}</span>
      </div>
      {error !== null && <ErrorBox error={error} title="Cannot load the alert history" />}
      {list && list.length === 0 && <div className="empty-result">No alert has fired yet.</div>}
      {shown.length > 0 && (
        <table className="table history-table">
          <thead>
            <tr>
              <th>Time</th>
              <th className="state-col">State</th>
              <th>Alert</th>
              <th>Labels</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((e, i) => {
              const href = historyLink(e);
              return (
                <tr key={`${e.fingerprint}-${e.time}-${i}`}>
                  <td className="muted nowrap">{new Date(e.time).toLocaleString()}</td>
                  <td className="state-col">
                    <span className={`badge badge-${e.state === 'firing' ? 'firing' : e.state === 'pending' ? 'pending' : 'inactive'}`}>{e.state}</span>
                  </td>
                  <td>
                    <strong>{e.labels.alertname ?? ''}</strong>
                    {e.annotations.summary && <div className="muted small">{e.annotations.summary}</div>}
                  </td>
                  <td>
                    <div className="chips">
                      {Object.entries(e.labels)
                        .filter(([k]) => k !== 'alertname')
                        .map(([k, v]) => (
                          <span className="chip" key={k}>
                            {k}=<b>{v}</b>
                          </span>
                        ))}
                    </div>
                  </td>
                  <td className="num">
                    {href && (
                      <a className="btn small-btn" href={href} onClick={onLinkClick}>
                        Open
                      </a>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
