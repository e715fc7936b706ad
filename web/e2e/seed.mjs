// Sends known telemetry to a fresh sightline over its real ingest protocols
// (OTLP/HTTP JSON for metrics and traces, Loki push JSON for logs) and waits
// until the query APIs answer with it, so the browser tests have something
// to find. Every wait polls with a deadline; nothing sleeps a fixed time.

import assert from 'node:assert/strict';

/** What the seed sends; the tests check the pages against it. */
export const SEED = {
  metric: 'e2e_queue_depth',
  metricServices: ['cart', 'checkout'],
  logQuery: '{service_name="checkout"}',
  logLine: 'order 4711 placed for customer alice',
  logTraceLine: 'charging card for order 4711',
  oomLine: 'java.lang.OutOfMemoryError: Java heap space',
  // A JSON line of frontend with structured metadata (pod): `| json` turns its
  // keys into fields, which the details panel must not call stream labels.
  jsonLine: '{"msg":"upstream reset","path":"/cart","status":502,"user":"carol"}',
  jsonMetadata: { pod: 'frontend-7' },
  services: ['checkout', 'frontend', 'payment'],
  // client → server pairs the service graph must show (postgresql is a virtual node).
  edges: ['frontend>checkout', 'checkout>payment', 'checkout>postgresql'],
  spansPerTrace: 6,
  traces: 6,
};

const hex = (n, len) => n.toString(16).padStart(len, '0');
const attr = (key, value) =>
  typeof value === 'number' ? { key, value: { intValue: String(value) } } : { key, value: { stringValue: value } };
const nanos = (ms) => `${BigInt(Math.round(ms)) * 1000000n}`;

async function post(base, path, body, tenant) {
  const headers = { 'Content-Type': 'application/json' };
  if (tenant) headers['X-Scope-OrgID'] = tenant;
  const res = await fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  assert.ok(res.ok, `POST ${path} answered HTTP ${res.status}: ${text.slice(0, 300)}`);
}

/** Metrics: a gauge per service every 15 s over the last 10 minutes (OTLP JSON). */
function metricsBody(now) {
  return {
    resourceMetrics: SEED.metricServices.map((svc, i) => ({
      resource: { attributes: [attr('service.name', svc), attr('service.instance.id', `${svc}-0`)] },
      scopeMetrics: [
        {
          scope: { name: 'e2e' },
          metrics: [
            {
              name: SEED.metric,
              description: 'Orders waiting in the queue.',
              gauge: {
                dataPoints: Array.from({ length: 41 }, (_, k) => ({
                  timeUnixNano: nanos(now - (40 - k) * 15000),
                  // checkout stays above the alert threshold (5), cart below.
                  asDouble: svc === 'checkout' ? 8 + (k % 4) : 1 + (k % 3) + i * 0,
                  attributes: [attr('service', svc)],
                })),
              },
            },
          ],
        },
      ],
    })),
  };
}

/**
 * One trace: frontend GET /checkout → checkout POST /orders → payment charge
 * (failed), and checkout's SELECT on postgresql (an uninstrumented peer).
 */
function traceSpans(n, start) {
  const tid = `5eed${hex(0xabc000 + n, 28)}`;
  const id = (k) => `5eed${hex(n * 16 + k, 12)}`;
  const span = (k, parent, name, kind, from, to, extra = {}) => ({
    traceId: tid,
    spanId: id(k),
    parentSpanId: parent ? id(parent) : '',
    name,
    kind,
    startTimeUnixNano: nanos(start + from),
    endTimeUnixNano: nanos(start + to),
    attributes: extra.attributes ?? [],
    status: extra.error ? { code: 2, message: 'card declined' } : { code: 1 },
    events: extra.events ?? [],
  });
  const SERVER = 2;
  const CLIENT = 3;
  return {
    tid,
    byService: {
      frontend: [
        span(1, 0, 'GET /checkout', SERVER, 0, 180, { attributes: [attr('http.request.method', 'GET'), attr('http.route', '/checkout')] }),
        span(2, 1, 'POST /orders', CLIENT, 5, 175),
      ],
      checkout: [
        span(3, 2, 'POST /orders', SERVER, 10, 170),
        span(4, 3, 'SELECT orders', CLIENT, 15, 40, { attributes: [attr('db.system', 'postgresql'), attr('db.statement', 'SELECT * FROM orders WHERE id = $1')] }),
        span(5, 3, 'charge', CLIENT, 50, 160, { error: true }),
      ],
      payment: [
        span(6, 5, 'charge', SERVER, 55, 155, {
          error: true,
          events: [{ timeUnixNano: nanos(start + 150), name: 'exception', attributes: [attr('exception.message', 'card declined')] }],
        }),
      ],
    },
  };
}

function tracesBody(now) {
  const ids = [];
  const bySvc = { frontend: [], checkout: [], payment: [] };
  for (let n = 0; n < SEED.traces; n++) {
    const t = traceSpans(n + 1, now - (SEED.traces - n) * 60000);
    ids.push(t.tid);
    for (const [s, spans] of Object.entries(t.byService)) bySvc[s].push(...spans);
  }
  return {
    ids,
    body: {
      resourceSpans: Object.entries(bySvc).map(([svc, spans]) => ({
        resource: { attributes: [attr('service.name', svc)] },
        scopeSpans: [{ scope: { name: 'e2e' }, spans }],
      })),
    },
  };
}

/** Logs over Loki push JSON, labelled the way OTLP logs are (service_name). */
function logsBody(now, traceId) {
  const ns = (ms) => nanos(ms);
  return {
    streams: [
      {
        stream: { service_name: 'checkout', level: 'info' },
        values: [
          [ns(now - 300000), 'cart 17 validated'],
          [ns(now - 240000), SEED.logLine],
          // Inside the trace's time span (the last trace starts a minute ago).
          [ns(now - 60000 + 52), `${SEED.logTraceLine} trace_id=${traceId}`],
        ],
      },
      {
        stream: { service_name: 'checkout', level: 'warn' },
        values: [[ns(now - 200000), 'payment slow, retrying order 4711']],
      },
      {
        stream: { service_name: 'payment', level: 'error' },
        values: [
          [ns(now - 60000 + 150), `card declined for order 4711 trace_id=${traceId}`],
          [ns(now - 30000), SEED.oomLine],
        ],
      },
      {
        stream: { service_name: 'frontend', level: 'info' },
        values: [
          ...Array.from({ length: 30 }, (_, k) => [ns(now - 590000 + k * 19000), `GET /checkout 200 ${20 + k} ms`]),
          [ns(now - 20000), SEED.jsonLine, SEED.jsonMetadata],
        ],
      },
    ],
  };
}

/** Polls fn until it returns a truthy value or the deadline passes. */
async function until(what, fn, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let delay = 200; ; delay = Math.min(delay * 1.5, 2000)) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

async function getJSON(base, path, tenant) {
  const res = await fetch(base + path, { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} });
  if (!res.ok) return undefined;
  return res.json();
}

/**
 * Seeds the server at base and waits until it serves the data back.
 * Returns the ids of the seeded traces. APIs that answer 404 (not built
 * yet) are skipped; the tests check their waiting state instead.
 */
export async function seed(base, tenant = '') {
  const now = Date.now();
  const { ids, body } = tracesBody(now);
  await post(base, '/otlp/v1/metrics', metricsBody(now), tenant);
  await post(base, '/otlp/v1/traces', body, tenant);
  await post(base, '/loki/api/v1/push', logsBody(now, ids[ids.length - 1]), tenant);

  const q = encodeURIComponent(SEED.metric);
  await until('the seeded metric', async () => (await getJSON(base, `/api/v1/query?query=${q}`, tenant))?.data?.result?.length === SEED.metricServices.length);
  const hasAPI = async (p) => (await fetch(base + p, { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} })).status !== 404;
  if (await hasAPI('/loki/api/v1/labels')) {
    const lq = encodeURIComponent(SEED.logQuery);
    await until('the seeded log lines', async () => {
      const r = await getJSON(base, `/loki/api/v1/query_range?query=${lq}&start=${now - 3600000}000000&end=${now + 60000}000000&limit=100`, tenant);
      return r?.data?.result?.some((s) => s.values.some(([, line]) => line === SEED.logLine));
    });
  }
  if (await hasAPI('/api/services')) {
    await until('the seeded trace', async () => (await getJSON(base, `/api/traces/${ids[0]}`, tenant))?.data?.[0]?.spans?.length === SEED.spansPerTrace);
  }
  if (await hasAPI('/api/dependencies')) {
    await until('the service graph edges', async () => {
      const links = (await getJSON(base, `/api/dependencies?endTs=${Date.now()}&lookback=3600000`, tenant))?.data ?? [];
      const got = new Set(links.map((l) => `${l.parent}>${l.child}`));
      return SEED.edges.every((e) => got.has(e));
    });
  }
  // A rule on the seeded gauge (test-ui.sh loads one) fires on its next evaluation.
  const groups = (await getJSON(base, '/api/v1/rules', tenant))?.data?.groups ?? [];
  if (groups.some((g) => g.rules.some((r) => r.type === 'alerting' && r.query.includes(SEED.metric))))
    await until('a firing alert', async () => (await getJSON(base, '/api/v1/alerts', tenant))?.data?.alerts?.some((a) => a.state === 'firing'));
  return ids;
}
