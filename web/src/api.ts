// The one API client of the UI. Every call to the server goes through here so
// that the tenant header, error decoding and cancellation behave the same on
// every page. Server error messages are passed through to the caller as
// ApiError with the server's own text: pages show them, never hide them.

/** Header carrying the tenant on every request (the Loki/Mimir convention). */
export const TENANT_HEADER = 'X-Scope-OrgID';

let currentTenant = '';

/** Sets the tenant sent with every following request ('' sends no header). */
export function setTenant(tenant: string): void {
  currentTenant = tenant.trim();
}

/** An error reported by the server or by the network, with a readable message. */
export class ApiError extends Error {
  readonly status: number;
  readonly errorType: string;
  readonly path: string;

  constructor(message: string, status: number, errorType: string, path: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.errorType = errorType;
    this.path = path;
  }
}

/** Returns true when err is an abort caused by a newer request replacing this one. */
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

/** Formats any thrown value into the sentence shown to the user. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const where = err.status > 0 ? `HTTP ${err.status}` : 'network';
    const kind = err.errorType ? ` ${err.errorType}` : '';
    return `${err.message} (${where}${kind}, ${err.path})`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

interface PromEnvelope<T> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
  infos?: string[];
}

/** A successful Prometheus-style response: the data plus any warnings. */
export interface Result<T> {
  data: T;
  warnings: string[];
}

type Params = Record<string, string | string[] | undefined>;

function encodeParams(params: Params): URLSearchParams {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((x) => body.append(k, x));
    else body.append(k, v);
  }
  return body;
}

async function request(path: string, init: RequestInit): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json');
  if (currentTenant) headers.set(TENANT_HEADER, currentTenant);
  try {
    return await fetch(path, { ...init, headers });
  } catch (err) {
    if (isAbort(err)) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new ApiError(`cannot reach the server: ${msg}`, 0, '', path);
  }
}

/** Reads a body that may or may not be JSON and turns failures into ApiError. */
async function decodeEnvelope<T>(res: Response, path: string, empty?: T): Promise<Result<T>> {
  const text = await res.text();
  let env: PromEnvelope<T> | undefined;
  try {
    env = JSON.parse(text) as PromEnvelope<T>;
  } catch {
    env = undefined;
  }
  if (env && env.status === 'error') {
    throw new ApiError(env.error || 'the server reported an error without a message', res.status, env.errorType ?? '', path);
  }
  if (!res.ok) {
    const snippet = text.trim().slice(0, 500) || res.statusText;
    throw new ApiError(snippet, res.status, '', path);
  }
  if (env && env.status === 'success' && (env.data === undefined || env.data === null) && empty !== undefined) {
    return { data: empty, warnings: env.warnings ?? [] };
  }
  if (!env || env.status !== 'success' || env.data === undefined) {
    throw new ApiError('the server sent a response this page cannot read', res.status, 'bad_response', path);
  }
  return { data: env.data, warnings: [...(env.warnings ?? []), ...(env.infos ?? [])] };
}

/**
 * Queries with GET (a same-origin GET carries no Origin header, which some
 * servers' CORS handling trips over) and falls back to a form POST, as
 * Prometheus accepts, when the URL would grow too long for proxies.
 */
const MAX_GET_URL = 6000;

async function promQuery<T>(path: string, params: Params, signal?: AbortSignal): Promise<Result<T>> {
  const qs = encodeParams(params).toString();
  if (path.length + 1 + qs.length <= MAX_GET_URL) return promGet<T>(path, params, signal);
  const res = await request(path, {
    method: 'POST',
    body: encodeParams(params),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    signal,
  });
  return decodeEnvelope<T>(res, path);
}

async function promGet<T>(path: string, params: Params, signal?: AbortSignal, empty?: T): Promise<Result<T>> {
  const qs = encodeParams(params).toString();
  const url = qs ? `${path}?${qs}` : path;
  const res = await request(url, { method: 'GET', signal });
  return decodeEnvelope<T>(res, path, empty);
}

// ---- Prometheus query API types ----

export type Labels = Record<string, string>;
/** [unix seconds, value as string] exactly as Prometheus sends it. */
export type SamplePair = [number, string];

export interface HistogramBucket {
  0: number;
  1: string;
  2: string;
  3: string;
}
export interface NativeHistogram {
  count: string;
  sum: string;
  buckets?: HistogramBucket[];
}

export interface InstantVectorSample {
  metric: Labels;
  value?: SamplePair;
  histogram?: [number, NativeHistogram];
}
export interface RangeSeries {
  metric: Labels;
  values?: SamplePair[];
  histograms?: [number, NativeHistogram][];
}

export type QueryData =
  | { resultType: 'vector'; result: InstantVectorSample[] }
  | { resultType: 'matrix'; result: RangeSeries[] }
  | { resultType: 'scalar'; result: SamplePair }
  | { resultType: 'string'; result: SamplePair };

export interface MatrixData {
  resultType: 'matrix';
  result: RangeSeries[];
}

export interface MetricMetadata {
  type: string;
  help: string;
  unit: string;
}

export interface BuildInfo {
  version: string;
  revision: string;
  branch: string;
  buildUser: string;
  buildDate: string;
  goVersion: string;
}

/** Runs an instant PromQL query at time (unix seconds). */
export function queryInstant(query: string, time: number, signal?: AbortSignal): Promise<Result<QueryData>> {
  return promQuery<QueryData>('/api/v1/query', { query, time: String(time) }, signal);
}

/** Runs a range PromQL query from start to end (unix seconds) with step seconds. */
export function queryRange(
  query: string,
  start: number,
  end: number,
  step: number,
  signal?: AbortSignal,
): Promise<Result<MatrixData>> {
  return promQuery<MatrixData>(
    '/api/v1/query_range',
    { query, start: String(start), end: String(end), step: String(step) },
    signal,
  );
}

/** Lists label names, optionally restricted to series matching the selectors. */
export async function labelNames(match: string[], start?: number, end?: number, signal?: AbortSignal): Promise<string[]> {
  const r = await promGet<string[]>(
    '/api/v1/labels',
    { 'match[]': match.length ? match : undefined, start: numOpt(start), end: numOpt(end) },
    signal,
  );
  return r.data;
}

/** Lists the values of one label, optionally restricted to matching series. */
export async function labelValues(
  name: string,
  match: string[],
  start?: number,
  end?: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const r = await promGet<string[]>(
    `/api/v1/label/${encodeURIComponent(name)}/values`,
    { 'match[]': match.length ? match : undefined, start: numOpt(start), end: numOpt(end) },
    signal,
  );
  return r.data;
}

/** Returns metric metadata (type, help, unit) keyed by metric name. */
export async function metadata(signal?: AbortSignal): Promise<Record<string, MetricMetadata[]>> {
  const r = await promGet<Record<string, MetricMetadata[]>>('/api/v1/metadata', {}, signal);
  return r.data;
}

/** Returns the server's build information. */
export async function buildInfo(signal?: AbortSignal): Promise<BuildInfo> {
  const r = await promGet<BuildInfo>('/api/v1/status/buildinfo', {}, signal);
  return r.data;
}

function numOpt(n: number | undefined): string | undefined {
  return n === undefined ? undefined : String(Math.floor(n));
}

// ---- Prometheus rules and alerts API types ----

export type AlertState = 'firing' | 'pending' | 'inactive';

export interface Alert {
  labels: Labels;
  annotations: Labels;
  state: AlertState;
  activeAt?: string;
  value: string;
}

interface RuleCommon {
  name: string;
  query: string;
  labels?: Labels;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  evaluationTime?: number;
  lastEvaluation?: string;
}

export interface AlertingRule extends RuleCommon {
  type: 'alerting';
  duration: number;
  keepFiringFor?: number;
  annotations: Labels;
  alerts: Alert[];
  state: AlertState;
}

export interface RecordingRule extends RuleCommon {
  type: 'recording';
}

export type Rule = AlertingRule | RecordingRule;

export interface RuleGroup {
  name: string;
  file: string;
  interval: number;
  rules: Rule[];
  evaluationTime?: number;
  lastEvaluation?: string;
}

/** Lists rule groups with each rule's state, health and active alerts. */
export function rules(signal?: AbortSignal): Promise<Result<{ groups: RuleGroup[] }>> {
  return promGet<{ groups: RuleGroup[] }>('/api/v1/rules', {}, signal);
}

/** Lists the active (pending and firing) alerts. */
export function alerts(signal?: AbortSignal): Promise<Result<{ alerts: Alert[] }>> {
  return promGet<{ alerts: Alert[] }>('/api/v1/alerts', {}, signal);
}

// ---- Alertmanager v2 silences and the alert history ----

export interface SilenceMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}

export interface Silence {
  id: string;
  status: { state: 'active' | 'pending' | 'expired' };
  matchers: SilenceMatcher[];
  startsAt: string;
  endsAt: string;
  updatedAt?: string;
  createdBy: string;
  comment: string;
}

export interface NewSilence {
  matchers: SilenceMatcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

/** One state change of an alert, newest first. */
export interface AlertHistoryEntry {
  time: string;
  state: string;
  fingerprint: string;
  labels: Labels;
  annotations: Labels;
  startsAt?: string;
  endsAt?: string;
  generatorURL?: string;
}

async function jsonOrThrow<T>(res: Response, path: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) {
    let msg = text.trim().slice(0, 500) || res.statusText;
    try {
      const j = JSON.parse(text) as { message?: string; error?: string };
      msg = j.message ?? j.error ?? msg;
    } catch {
      // not JSON: keep the text
    }
    throw new ApiError(msg, res.status, '', path);
  }
  return (text ? JSON.parse(text) : null) as T;
}

/** Lists silences (Alertmanager API v2). */
export async function silences(signal?: AbortSignal): Promise<Silence[]> {
  const path = '/api/v2/silences';
  return (await jsonOrThrow<Silence[] | null>(await request(path, { method: 'GET', signal }), path)) ?? [];
}

/** Creates a silence and returns its id. */
export async function createSilence(s: NewSilence): Promise<string> {
  const path = '/api/v2/silences';
  const res = await request(path, { method: 'POST', body: JSON.stringify(s), headers: { 'Content-Type': 'application/json' } });
  return (await jsonOrThrow<{ silenceID: string }>(res, path)).silenceID;
}

/** Expires a silence now. */
export async function expireSilence(id: string): Promise<void> {
  const path = `/api/v2/silence/${encodeURIComponent(id)}`;
  await jsonOrThrow<unknown>(await request(path, { method: 'DELETE' }), path);
}

/** Lists recent alert state changes (firing, resolved), newest first. */
export async function alertHistory(signal?: AbortSignal): Promise<AlertHistoryEntry[]> {
  const path = '/api/v1/alerts/history';
  const body = await jsonOrThrow<{ data?: AlertHistoryEntry[] | null }>(await request(path, { method: 'GET', signal }), path);
  return body?.data ?? [];
}

// ---- Jaeger query API (served under /api/) ----

export interface JaegerKV {
  key: string;
  type: string;
  value: string | number | boolean;
}

export interface JaegerReference {
  refType: 'CHILD_OF' | 'FOLLOWS_FROM';
  traceID: string;
  spanID: string;
}

export interface JaegerLog {
  timestamp: number; // µs since epoch
  fields: JaegerKV[];
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: JaegerReference[] | null;
  startTime: number; // µs since epoch
  duration: number; // µs
  tags?: JaegerKV[] | null;
  logs?: JaegerLog[] | null;
  processID: string;
  warnings?: string[] | null;
}

export interface JaegerProcess {
  serviceName: string;
  tags?: JaegerKV[] | null;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, JaegerProcess>;
  warnings?: string[] | null;
}

interface JaegerEnvelope<T> {
  data?: T;
  errors?: { code?: number; msg?: string }[] | null;
}

async function jaegerGet<T>(path: string, params: Params, signal?: AbortSignal): Promise<T> {
  const qs = encodeParams(params).toString();
  const res = await request(qs ? `${path}?${qs}` : path, { method: 'GET', signal });
  const text = await res.text();
  let env: JaegerEnvelope<T> | undefined;
  try {
    env = JSON.parse(text) as JaegerEnvelope<T>;
  } catch {
    env = undefined;
  }
  const first = env?.errors?.find((e) => e.msg);
  if (first?.msg) throw new ApiError(first.msg, res.status, '', path);
  if (!res.ok) throw new ApiError(text.trim().slice(0, 500) || res.statusText, res.status, '', path);
  if (!env || env.data === undefined || env.data === null) {
    throw new ApiError('the server sent a response this page cannot read', res.status, 'bad_response', path);
  }
  return env.data;
}

/** Lists the services that reported spans. */
export async function traceServices(signal?: AbortSignal): Promise<string[]> {
  return (await jaegerGet<string[]>('/api/services', {}, signal)).slice().sort();
}

/** Lists the operations (span names) of a service. */
export async function traceOperations(service: string, signal?: AbortSignal): Promise<string[]> {
  const ops = await jaegerGet<string[]>(`/api/services/${encodeURIComponent(service)}/operations`, {}, signal);
  return ops.slice().sort();
}

export interface TraceSearch {
  service: string;
  operation?: string;
  /** Tag filters, sent as Jaeger's JSON object. */
  tags?: Record<string, string>;
  minDuration?: string;
  maxDuration?: string;
  start: number; // unix seconds
  end: number; // unix seconds
  limit: number;
}

/** Searches traces; times are converted to the microseconds Jaeger expects. */
export function findTraces(q: TraceSearch, signal?: AbortSignal): Promise<JaegerTrace[]> {
  return jaegerGet<JaegerTrace[]>(
    '/api/traces',
    {
      service: q.service,
      operation: q.operation || undefined,
      tags: q.tags && Object.keys(q.tags).length ? JSON.stringify(q.tags) : undefined,
      minDuration: q.minDuration || undefined,
      maxDuration: q.maxDuration || undefined,
      start: String(Math.floor(q.start * 1e6)),
      end: String(Math.ceil(q.end * 1e6)),
      limit: String(q.limit),
    },
    signal,
  );
}

/** Fetches one trace by id. */
export async function getTrace(id: string, signal?: AbortSignal): Promise<JaegerTrace> {
  const list = await jaegerGet<JaegerTrace[]>(`/api/traces/${encodeURIComponent(id)}`, {}, signal);
  const t = list[0];
  if (!t) throw new ApiError(`trace ${id} was not found`, 404, 'not_found', '/api/traces');
  return t;
}

// ---- Loki query API (served under /loki/api/v1/) ----

/** One log entry as Loki sends it: [unix ns as string, line, optional metadata]. */
export type LokiEntry = [string, string] | [string, string, Record<string, unknown>];

export interface LokiStream {
  stream: Labels;
  values: LokiEntry[];
}

export type LokiQueryData =
  | { resultType: 'streams'; result: LokiStream[] }
  | { resultType: 'matrix'; result: RangeSeries[] }
  | { resultType: 'vector'; result: InstantVectorSample[] };

export interface LokiRangeQuery {
  query: string;
  start: number; // unix seconds
  end: number; // unix seconds
  limit?: number;
  direction?: 'backward' | 'forward';
  step?: number; // seconds, for metric queries
}

function ns(sec: number): string {
  // Whole milliseconds as nanoseconds: exact, and clear of float rounding.
  return `${Math.round(sec * 1000)}000000`;
}

/** Runs a LogQL range query: log lines (streams) or a metric query (matrix). */
export function lokiQueryRange(q: LokiRangeQuery, signal?: AbortSignal): Promise<Result<LokiQueryData>> {
  return promGet<LokiQueryData>(
    '/loki/api/v1/query_range',
    {
      query: q.query,
      start: ns(q.start),
      end: ns(q.end),
      limit: q.limit === undefined ? undefined : String(q.limit),
      direction: q.direction,
      step: q.step === undefined ? undefined : String(q.step),
    },
    signal,
  );
}

/** Lists stream label names seen in the range. */
export async function lokiLabels(start?: number, end?: number, signal?: AbortSignal): Promise<string[]> {
  const r = await promGet<string[]>(
    '/loki/api/v1/labels',
    { start: start === undefined ? undefined : ns(start), end: end === undefined ? undefined : ns(end) },
    signal,
    [],
  );
  return r.data;
}

/** Lists the values of one stream label. */
export async function lokiLabelValues(name: string, start?: number, end?: number, signal?: AbortSignal): Promise<string[]> {
  const r = await promGet<string[]>(
    `/loki/api/v1/label/${encodeURIComponent(name)}/values`,
    { start: start === undefined ? undefined : ns(start), end: end === undefined ? undefined : ns(end) },
    signal,
    [],
  );
  return r.data;
}

/** Query parameter that carries the tenant where a header cannot (browser WebSockets). */
export const TENANT_PARAM = 'tenant';

/**
 * The WebSocket address for live-tailing a LogQL query from start (unix
 * seconds). A browser cannot set headers on a WebSocket handshake, so the
 * tenant travels as the `tenant` query parameter, which the tail endpoint
 * reads when X-Scope-OrgID is absent.
 */
export function lokiTailURL(query: string, start: number, limit: number): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const p = new URLSearchParams({ query, start: ns(start), limit: String(limit) });
  if (currentTenant) p.set(TENANT_PARAM, currentTenant);
  return `${proto}//${window.location.host}/loki/api/v1/tail?${p.toString()}`;
}

/** One caller → callee pair with its call count, as Jaeger's dependencies API reports it. */
export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
}

/** Lists service dependencies seen in the lookback window ending at end (unix seconds). */
export function dependencies(end: number, lookbackSec: number, signal?: AbortSignal): Promise<DependencyLink[]> {
  return jaegerGet<DependencyLink[]>(
    '/api/dependencies',
    { endTs: String(Math.round(end * 1000)), lookback: String(Math.round(lookbackSec * 1000)) },
    signal,
  );
}

// ---- User dashboards (served under /api/v1/dashboards) ----

/** A panel's unit: the chart units plus Grafana's milliseconds and 0–100 percent. */
export type DashboardUnit = '' | 'short' | 'bytes' | 'bytes/s' | 'seconds' | 'milliseconds' | 'percent' | 'percent100' | 'ops' | 'cores';

export type DashboardPanelType = 'timeseries' | 'stat' | 'table' | 'unsupported';

export interface DashboardQuery {
  expr: string;
  legend?: string;
}

export interface DashboardPanel {
  id: number;
  title: string;
  type: DashboardPanelType;
  unit?: DashboardUnit;
  /** x and w in 1/24 of the row; y and h in rows. */
  gridPos: { x: number; y: number; w: number; h: number };
  queries?: DashboardQuery[];
  /** Why an imported panel could not be converted. */
  note?: string;
  originalType?: string;
}

export interface DashboardVariable {
  name: string;
  label?: string;
  type: 'custom' | 'query';
  /** label_values(selector, label) or label_values(label). */
  query?: string;
  options?: string[];
  includeAll?: boolean;
  default?: string;
}

export interface StoredDashboard {
  uid: string;
  title: string;
  description?: string;
  tags?: string[];
  variables?: DashboardVariable[];
  panels: DashboardPanel[];
  version: number;
  created?: string;
  updated?: string;
  source?: string;
}

export interface DashboardSummary {
  uid: string;
  title: string;
  description?: string;
  tags?: string[];
  panels: number;
  version: number;
  updated?: string;
  source?: string;
}

export interface DashboardImport {
  dashboard: StoredDashboard;
  format: 'sightline' | 'grafana';
  warnings: string[];
}

const DASHBOARDS = '/api/v1/dashboards';

async function dashboardCall<T>(method: string, path: string, body?: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, {
    method,
    body,
    headers: body === undefined ? undefined : { 'Content-Type': 'application/json' },
    signal,
  });
  return (await decodeEnvelope<T>(res, path)).data;
}

/** Lists the user dashboards the server stores. */
export function listDashboards(signal?: AbortSignal): Promise<DashboardSummary[]> {
  return dashboardCall<DashboardSummary[]>('GET', DASHBOARDS, undefined, signal);
}

/** Reads one user dashboard. */
export function getDashboard(uid: string, signal?: AbortSignal): Promise<StoredDashboard> {
  return dashboardCall<StoredDashboard>('GET', `${DASHBOARDS}/${encodeURIComponent(uid)}`, undefined, signal);
}

/** Creates a dashboard (the server picks a uid when none is set). */
export function createDashboard(d: Omit<StoredDashboard, 'version' | 'uid'> & { uid?: string }): Promise<StoredDashboard> {
  return dashboardCall<StoredDashboard>('POST', DASHBOARDS, JSON.stringify(d));
}

/** Saves a dashboard; d.version must be the version it was loaded at (HTTP 409 otherwise). */
export function saveDashboard(d: StoredDashboard): Promise<StoredDashboard> {
  return dashboardCall<StoredDashboard>('PUT', `${DASHBOARDS}/${encodeURIComponent(d.uid)}`, JSON.stringify(d));
}

/** Deletes a dashboard if it is still at version. */
export async function deleteDashboard(uid: string, version: number): Promise<void> {
  await dashboardCall<unknown>('DELETE', `${DASHBOARDS}/${encodeURIComponent(uid)}?version=${version}`);
}

/** Imports sightline or Grafana dashboard JSON; overwrite replaces a dashboard with the same uid, copy takes a new uid. */
export function importDashboard(json: string, mode: '' | 'overwrite' | 'copy' = ''): Promise<DashboardImport> {
  const qs = mode ? `?${mode}=true` : '';
  return dashboardCall<DashboardImport>('POST', `${DASHBOARDS}/import${qs}`, json);
}

/** The address that downloads a dashboard in the export format. */
export function dashboardExportURL(uid: string): string {
  return `${DASHBOARDS}/${encodeURIComponent(uid)}/export`;
}

/** Fetches a dashboard's export JSON (with the tenant header, unlike a plain link). */
export async function exportDashboard(uid: string): Promise<string> {
  const path = dashboardExportURL(uid);
  const res = await request(path, { method: 'GET' });
  const text = await res.text();
  if (!res.ok) {
    await decodeEnvelope<unknown>(new Response(text, { status: res.status }), path);
  }
  return text;
}
