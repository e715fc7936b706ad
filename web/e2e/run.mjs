// Browser tests of the sightline UI in Debian's headless Chromium, driven by
// playwright-core (no browser download). The server under test is taken from
// SIGHTLINE_URL; it must serve the built UI and the Prometheus HTTP API.
//
//   SIGHTLINE_URL=http://127.0.0.1:9800 node e2e/run.mjs
//
// Optional environment:
//   SIGHTLINE_E2E_SEED    "0" skips sending the known telemetry of e2e/seed.mjs first
//                         (OTLP metrics and traces, Loki push logs); by default the
//                         tests seed the server and check the pages find that data
//   SIGHTLINE_E2E_QUERY   PromQL the metrics test runs (default: the seeded gauge, or
//                         "up" without seeding); it must return data
//   SIGHTLINE_E2E_LOGQL   LogQL the logs test runs (default: any value of the first stream label)
//   SIGHTLINE_E2E_LOG_LINE text of a line that LogQL query must find (checked when set)
//   SIGHTLINE_TENANT      tenant put in the URL of every page
//   SIGHTLINE_SCREENSHOTS where screenshots go (default: <repo>/e2e/screenshots)
//   CHROMIUM_PATH         browser binary (default: /usr/bin/chromium)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { SEED, seed } from './seed.mjs';
import './dashboards.mjs'; // user dashboards and the big-trace waterfall

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:9800').replace(/\/$/, '');
const SEEDING = process.env.SIGHTLINE_E2E_SEED !== '0';
const QUERY = process.env.SIGHTLINE_E2E_QUERY ?? (SEEDING ? SEED.metric : 'up');
const LOGQL = process.env.SIGHTLINE_E2E_LOGQL ?? (SEEDING ? SEED.logQuery : '');
const LOG_LINE = process.env.SIGHTLINE_E2E_LOG_LINE ?? (SEEDING ? SEED.logLine : '');
const TENANT = process.env.SIGHTLINE_TENANT ?? '';
const SHOTS = process.env.SIGHTLINE_SCREENSHOTS ?? path.resolve(here, '../../e2e/screenshots');
const VIEWPORT = { width: 1440, height: 900 };

const PAGES = [
  { path: '/logs', heading: 'Logs' },
  { path: '/graph', heading: 'Metrics explorer' },
  { path: '/dashboards', heading: 'Dashboards' },
  { path: '/traces', heading: 'Traces' },
  { path: '/service-map', heading: 'Service map' },
  { path: '/alerts', heading: 'Alerts' },
];

let browser;

/** Builds a page URL with the tenant (if any) and extra parameters. */
function url(p, params = {}) {
  const u = new URL(BASE + p);
  if (TENANT) u.searchParams.set('tenant', TENANT);
  for (const [k, v] of Object.entries(params)) {
    for (const x of [].concat(v)) u.searchParams.append(k, x);
  }
  return u.toString();
}

/**
 * APIs a page probes that a server may not serve yet. A 404 from one of them
 * makes the page show what it waits for; the browser still logs the 404, so
 * tests allow exactly those messages, and only after checking the server
 * really answers 404 there.
 */
const PENDING_PROBES = ['/api/services', '/loki/api/v1/labels', '/api/dependencies'];
const missingApis = new Set();

async function probeMissingApis() {
  for (const p of PENDING_PROBES) {
    const res = await fetch(BASE + p, { headers: TENANT ? { 'X-Scope-OrgID': TENANT } : {} });
    if (res.status === 404) missingApis.add(p);
  }
}

/** Opens a fresh page in the given theme that records console errors and page crashes. */
async function openPage(theme) {
  const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: theme });
  await context.addInitScript((t) => localStorage.setItem('sightline.theme', t), theme);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const src = m.location()?.url ?? '';
    const known = [...missingApis].some((p) => src === BASE + p || src.startsWith(BASE + p + '?'));
    if (known && /status of 404/.test(m.text())) return;
    errors.push(`console: ${m.text()} (${src})`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A request replaced by a newer one is aborted on purpose.
    if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? '')) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return { context, page, errors };
}

async function shot(page, name, fullPage = false) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

async function apiJSON(p) {
  const headers = TENANT ? { 'X-Scope-OrgID': TENANT } : {};
  const res = await fetch(BASE + p, { headers });
  assert.equal(res.status, 200, `${p} answered HTTP ${res.status}`);
  return res.json();
}

let seededTraces = [];

before(async () => {
  await probeMissingApis();
  if (SEEDING) seededTraces = await seed(BASE, TENANT);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

for (const theme of ['dark', 'light']) {
  describe(`every page loads without console errors (${theme})`, () => {
    for (const p of PAGES) {
      test(p.path, async () => {
        const { context, page, errors } = await openPage(theme);
        try {
          await page.goto(url(p.path), { waitUntil: 'networkidle' });
          await page.getByRole('heading', { level: 1, name: p.heading }).waitFor();
          const active = await page.locator('nav a[aria-current="page"]').textContent();
          assert.equal(active?.trim(), p.heading.replace(' explorer', ''));
          await shot(page, `${p.path.slice(1)}-${theme}`);
          assert.deepEqual(errors, []);
        } finally {
          await context.close();
        }
      });
    }
  });
}

describe('metrics explorer', () => {
  test('completes metric names from the server', async () => {
    const names = (await apiJSON('/api/v1/label/__name__/values')).data;
    assert.ok(names.length > 0, 'the server knows no metric names');
    const target = names.find((n) => n.length >= 4) ?? names[0];
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/graph'), { waitUntil: 'networkidle' });
      const editor = page.getByRole('combobox', { name: 'PromQL query 1' });
      await editor.click();
      await editor.pressSequentially(target.slice(0, 3));
      const option = page.getByRole('option').filter({ hasText: target }).first();
      await option.waitFor();
      await shot(page, 'metrics-completion-dark');
      await editor.press('Escape');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  for (const theme of ['dark', 'light']) {
    test(`runs a query and draws its series (${theme})`, async () => {
      const { context, page, errors } = await openPage(theme);
      try {
        await page.goto(url('/graph', { from: 'now-15m', to: 'now' }), { waitUntil: 'networkidle' });
        const editor = page.getByRole('combobox', { name: 'PromQL query 1' });
        await editor.fill(QUERY);
        await page.getByTestId('run-query').click();
        const chart = page.getByTestId('chart');
        await chart.locator('canvas').waitFor();
        const series = Number(await chart.getAttribute('data-series'));
        assert.ok(series > 0, `the graph shows ${series} series`);
        assert.equal(await page.locator('.legend-item').count(), series);
        // The query is in the URL: a reload shows the same graph.
        assert.equal(new URL(page.url()).searchParams.get('q'), QUERY);
        await page.mouse.move(700, 420);
        await shot(page, `metrics-graph-${theme}`);
        await page.reload({ waitUntil: 'networkidle' });
        await chart.locator('canvas').waitFor();
        assert.equal(Number(await chart.getAttribute('data-series')), series);

        await page.getByRole('tab', { name: 'Table' }).click();
        const rows = page.getByTestId('instant-table').locator('tbody tr');
        await rows.first().waitFor();
        assert.ok((await rows.count()) > 0);
        await shot(page, `metrics-table-${theme}`);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  }

  test('several queries share one graph', async () => {
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/graph', { q: [QUERY, `${QUERY} * 2`] }), { waitUntil: 'networkidle' });
      const chart = page.getByTestId('chart');
      await chart.locator('canvas').waitFor();
      const n = Number(await chart.getAttribute('data-series'));
      assert.ok(n >= 2 && n % 2 === 0, `expected the series of both queries, got ${n}`);
      assert.equal(await page.locator('.legend-item', { hasText: '#2 ' }).count(), n / 2);
      await shot(page, 'metrics-two-queries-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('shows the server error of a bad query', async () => {
    const { context, page } = await openPage('light');
    try {
      await page.goto(url('/graph'), { waitUntil: 'networkidle' });
      const editor = page.getByRole('combobox', { name: 'PromQL query 1' });
      await editor.fill('sum(rate(');
      await editor.press('Escape');
      await editor.press('Enter');
      const alert = page.getByRole('alert');
      await alert.waitFor();
      const text = await alert.textContent();
      assert.match(text ?? '', /parse error|unexpected/i, `the error shown was: ${text}`);
      assert.match(text ?? '', /HTTP 400/);
      await shot(page, 'metrics-error-light');
    } finally {
      await context.close();
    }
  });
});

describe('alerts', () => {
  test('lists every rule and links an active alert to its metric', async () => {
    const groups = (await apiJSON('/api/v1/rules')).data.groups;
    const ruleCount = groups.reduce((n, g) => n + g.rules.length, 0);
    const active = (await apiJSON('/api/v1/alerts')).data.alerts;
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/alerts'), { waitUntil: 'networkidle' });
      await page.getByRole('heading', { name: 'Rules' }).waitFor();
      assert.equal(await page.locator('.rules-table tbody tr').count(), ruleCount);
      await shot(page, 'alerts-rules-dark');
      if (active.length === 0) {
        await page.getByText('No alert is firing or pending.').waitFor();
        return;
      }
      const rules = groups.flatMap((g) => g.rules);
      // A PromQL alert (the seeded one when seeding) and its metric.
      const promAlert =
        active.find((a) => a.labels.alertname === 'CheckoutQueueHigh') ??
        active.find((a) => !/\}\s*(\|[=~]|!=|!~|\|\s*[a-z_]+)/.test(rules.find((r) => r.name === a.labels.alertname)?.query ?? ''));
      if (SEEDING) assert.ok(promAlert, 'the seeded PromQL alert is not active');
      if (!promAlert) return;
      const name = promAlert.labels.alertname;
      const rule = rules.find((r) => r.name === name);
      const group = page.locator('.alert-group', { hasText: name });
      await group.getByRole('link', { name: 'Open metric' }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Metrics explorer' }).waitFor();
      assert.equal(new URL(page.url()).searchParams.get('q'), rule.query);
      const chart = page.getByTestId('chart');
      await chart.locator('canvas').waitFor();
      assert.ok(Number(await chart.getAttribute('data-series')) > 0, 'the alert metric graph is empty');
      await shot(page, 'alerts-to-metric-dark');
      if (SEEDING && !missingApis.has('/loki/api/v1/labels') && !missingApis.has('/api/services')) {
        // The on-call path goes on: metric → the service's logs → the trace in a line.
        const range = new URL(page.url()).searchParams.get('from');
        const related = page.getByLabel('Related logs and traces').locator('.related-service', { hasText: 'checkout' });
        await related.getByRole('link', { name: 'logs' }).click();
        await page.getByRole('heading', { level: 1, name: 'Logs' }).waitFor();
        assert.equal(new URL(page.url()).searchParams.get('q'), '{service_name="checkout"}');
        assert.equal(new URL(page.url()).searchParams.get('from'), range);
        const line = page.getByRole('option').filter({ hasText: SEED.logTraceLine }).first();
        await line.waitFor();
        await line.locator('a.log-trace').click();
        await page.getByTestId('span-count').waitFor();
        assert.equal(Number(await page.getByTestId('span-count').textContent()), SEED.spansPerTrace);
        await shot(page, 'alerts-metric-logs-trace-dark');
        // …and on to the service map around the trace's root service.
        if (!missingApis.has('/api/dependencies')) {
          await page.locator('.trace-header').getByRole('link', { name: 'Service map' }).click();
          await page.getByRole('complementary', { name: 'Service frontend' }).waitFor();
          await page.getByTestId('map-node').first().waitFor();
        }
      }
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('an alert is silenced from its row and the silence expired', async (t) => {
    const probe = await fetch(BASE + '/api/v2/silences', { headers: TENANT ? { 'X-Scope-OrgID': TENANT } : {} });
    if (probe.status === 404) return t.skip('the server has no silences API');
    const active = (await apiJSON('/api/v1/alerts')).data.alerts;
    if (active.length === 0) return t.skip('no active alert');
    const name = active[0].labels.alertname;
    const comment = `e2e silence ${Date.now()}`;
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/alerts'), { waitUntil: 'networkidle' });
      const group = page.locator('.alert-group', { hasText: name });
      await group.getByRole('button', { name: 'Silence…' }).first().click();
      const form = page.getByRole('form', { name: 'New silence' });
      await form.getByRole('textbox', { name: 'Comment' }).fill(comment);
      await form.getByRole('combobox', { name: 'Silence duration' }).selectOption({ label: '4 hours' });
      await shot(page, 'alerts-silence-form-dark');
      await form.getByRole('button', { name: 'Create silence' }).click();
      const row = page.getByRole('region', { name: 'Silences' }).locator('tbody tr', { hasText: comment });
      await row.waitFor();
      assert.match((await row.textContent()) ?? '', new RegExp(`alertname="${name}"`));
      const created = (await apiJSON('/api/v2/silences')).find((x) => x.comment === comment);
      assert.equal(created?.status.state, 'active');
      const hours = (Date.parse(created.endsAt) - Date.parse(created.startsAt)) / 3600000;
      assert.ok(Math.abs(hours - 4) < 0.01, `silence lasts ${hours} h`);
      // History of state changes is listed under the silences.
      const history = page.getByRole('region', { name: 'Alert history' });
      await history.waitFor();
      await history.scrollIntoViewIfNeeded();
      await shot(page, 'alerts-silences-history-dark');
      await row.getByRole('button', { name: 'Expire' }).click();
      await row.waitFor({ state: 'detached' });
      const after = (await apiJSON('/api/v2/silences')).find((x) => x.comment === comment);
      assert.equal(after?.status.state, 'expired');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a log alert links to the log lines it counts', async (t) => {
    if (!SEEDING || missingApis.has('/loki/api/v1/labels')) return t.skip('needs the seeded log rule and the Loki API');
    const active = (await apiJSON('/api/v1/alerts')).data.alerts;
    if (!active.some((a) => a.labels.alertname === 'PaymentOutOfMemory')) return t.skip('no log rule loaded (run through scripts/test-ui.sh)');
    const { context, page, errors } = await openPage('light');
    try {
      await page.goto(url('/alerts'), { waitUntil: 'networkidle' });
      const group = page.locator('.alert-group', { hasText: 'PaymentOutOfMemory' });
      await group.getByRole('link', { name: 'Open logs' }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Logs' }).waitFor();
      assert.equal(new URL(page.url()).searchParams.get('q'), '{service_name="payment"} |= "OutOfMemoryError"');
      await page.locator('.log-line', { hasText: SEED.oomLine }).first().waitFor();
      await shot(page, 'alerts-to-logs-light');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('notification links open the metric and the logs over the firing window', async (t) => {
    if (!SEEDING) return t.skip('needs the seeded data');
    const to = Date.now();
    const from = to - 20 * 60 * 1000;
    const { context, page, errors } = await openPage('dark');
    try {
      // {externalURL}/graph?q=<expr>&from=<ms>&to=<ms>, as alert notifications link.
      await page.goto(url('/graph', { q: `${SEED.metric}{service="checkout"} > 5`, from: String(from), to: String(to) }), { waitUntil: 'networkidle' });
      const chart = page.getByTestId('chart');
      await chart.locator('canvas').waitFor();
      assert.equal(Number(await chart.getAttribute('data-series')), 1);
      if (missingApis.has('/loki/api/v1/labels')) return;
      // {externalURL}/logs?q=<logql>&from=<ms>&to=<ms> for log rules: the rule's metric query is graphed…
      await page.goto(url('/logs', { q: 'sum by (service_name) (count_over_time({service_name="payment"} |= "OutOfMemoryError" [10m])) > 0', from: String(from), to: String(to) }), { waitUntil: 'networkidle' });
      await page.getByTestId('chart').locator('canvas').waitFor();
      // …and a log query lists its lines.
      await page.goto(url('/logs', { q: '{service_name="payment"} |= "OutOfMemoryError"', from: String(from), to: String(to) }), { waitUntil: 'networkidle' });
      await page.locator('.log-line', { hasText: SEED.oomLine }).first().waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('dashboards', () => {
  for (const theme of ['dark', 'light']) {
    test(`the Go runtime dashboard draws its panels (${theme})`, async () => {
      const jobs = (await apiJSON('/api/v1/label/job/values?match[]=go_goroutines')).data;
      const { context, page, errors } = await openPage(theme);
      try {
        await page.goto(url('/dashboards'), { waitUntil: 'networkidle' });
        await shot(page, `dashboards-list-${theme}`);
        await page.getByRole('link', { name: /Go runtime/ }).click();
        await page.getByRole('heading', { level: 2, name: 'Go runtime' }).waitFor();
        assert.equal(await page.locator('section.panel').count(), 8);
        if (jobs.length > 0) {
          const goroutines = page.getByRole('region', { name: 'Goroutines' });
          await goroutines.getByTestId('chart').locator('canvas').waitFor();
          assert.ok(Number(await goroutines.getByTestId('chart').getAttribute('data-series')) > 0);
        }
        await page.waitForLoadState('networkidle');
        await shot(page, `dashboards-go-${theme}`);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  }
});

describe('service overview dashboard', () => {
  test('draws request rate, error ratio and latency from span metrics', async (t) => {
    if (!SEEDING || missingApis.has('/api/services')) return t.skip('needs seeded traces');
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/dashboards/service-overview', { from: 'now-30m', to: 'now' }), { waitUntil: 'networkidle' });
      await page.getByRole('heading', { level: 2, name: 'Service overview' }).waitFor();
      for (const title of ['Request rate', 'Error ratio', 'Latency p95']) {
        const chart = page.getByRole('region', { name: title, exact: true }).getByTestId('chart');
        await chart.locator('canvas').waitFor();
        assert.ok(Number(await chart.getAttribute('data-series')) > 0, `${title} is empty`);
      }
      const rate = page.getByRole('region', { name: 'Request rate', exact: true }).getByTestId('chart');
      assert.equal(Number(await rate.getAttribute('data-series')), SEED.services.length);
      await page.waitForLoadState('networkidle');
      await shot(page, 'dashboards-service-overview-dark');
      await page.getByRole('combobox').filter({ hasText: 'All' }).selectOption('payment');
      await page.waitForURL(/var=payment/);
      await page.getByRole('region', { name: 'Error ratio', exact: true }).getByTestId('chart').locator('canvas').waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('metrics explorer controls', () => {
  test('the metric browser inserts the picked name', async () => {
    const names = (await apiJSON('/api/v1/label/__name__/values')).data;
    const target = names[Math.floor(names.length / 2)];
    const { context, page, errors } = await openPage('light');
    try {
      await page.goto(url('/graph'), { waitUntil: 'networkidle' });
      await page.getByRole('button', { name: 'Browse metrics for query 1' }).click();
      const search = page.getByRole('textbox', { name: 'Search metrics' });
      await search.fill(target);
      await page.getByRole('dialog', { name: 'Metric names' }).getByRole('option').first().waitFor();
      await shot(page, 'metrics-browser-light');
      await search.press('Enter');
      const editor = page.getByRole('combobox', { name: 'PromQL query 1' });
      assert.equal(await editor.inputValue(), target);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('auto refresh runs the query again', async () => {
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/graph', { q: QUERY, refresh: '5s' }), { waitUntil: 'networkidle' });
      await page.getByTestId('chart').locator('canvas').waitFor();
      const again = await page.waitForRequest((r) => new URL(r.url()).pathname === '/api/v1/query_range', { timeout: 15000 });
      const sent = again.method() === 'GET' ? new URL(again.url()).searchParams : new URLSearchParams(again.postData() ?? '');
      assert.equal(sent.get('query'), QUERY);
      assert.equal(await page.getByRole('combobox', { name: 'Auto refresh' }).inputValue(), '5s');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('the range picker changes the URL and the graph follows', async () => {
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/graph', { q: QUERY }), { waitUntil: 'networkidle' });
      await page.getByTestId('chart').locator('canvas').waitFor();
      await page.getByRole('button', { name: 'Last 1 hour' }).click();
      await shot(page, 'range-picker-dark');
      await page.getByRole('button', { name: 'Last 5 minutes' }).click();
      assert.equal(new URL(page.url()).searchParams.get('from'), 'now-5m');
      await page.getByText(/step 2s/).waitFor();
      await page.getByRole('button', { name: 'Last 5 minutes' }).waitFor();
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('traces', () => {
  test('search finds traces and a trace opens with its span count', async () => {
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/traces'), { waitUntil: 'networkidle' });
      if (missingApis.has('/api/services')) {
        await page.getByText('Waiting for the server API').waitFor();
        assert.deepEqual(errors, []);
        return;
      }
      const services = (await apiJSON('/api/services')).data;
      assert.ok(services.length > 0, 'the server knows no services');
      await page.getByRole('heading', { name: /\d+ traces?/ }).waitFor();
      const first = page.locator('a.trace-row').first();
      if (SEEDING) await first.waitFor();
      if ((await first.count()) === 0) return; // no trace in the default range
      await shot(page, 'traces-search-dark');
      const id = (await first.getAttribute('href')).split('?')[0].split('/').pop();
      const trace = (await apiJSON(`/api/traces/${id}`)).data[0];
      await first.click();
      const count = page.getByTestId('span-count');
      await count.waitFor();
      assert.equal(Number(await count.textContent()), trace.spans.length);
      assert.equal(await page.getByRole('treeitem').count(), trace.spans.length);
      await shot(page, 'traces-trace-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a seeded trace shows every span, its errors and links to its logs', async (t) => {
    if (!SEEDING || missingApis.has('/api/services')) return t.skip('needs seeded traces');
    const id = seededTraces[seededTraces.length - 1];
    const { context, page, errors } = await openPage('light');
    try {
      await page.goto(url(`/traces/${id}`), { waitUntil: 'networkidle' });
      const count = page.getByTestId('span-count');
      await count.waitFor();
      assert.equal(Number(await count.textContent()), SEED.spansPerTrace);
      assert.equal(await page.getByRole('treeitem').count(), SEED.spansPerTrace);
      await shot(page, 'traces-trace-light');
      if (missingApis.has('/loki/api/v1/labels')) return;
      await page.getByRole('link', { name: /logs of this trace/i }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Logs' }).waitFor();
      await page.locator('.log-line', { hasText: SEED.logTraceLine }).first().waitFor();
      await shot(page, 'logs-of-trace-light');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('logs', () => {
  test('a log search shows its lines, volume and line details', async () => {
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/logs'), { waitUntil: 'networkidle' });
      if (missingApis.has('/loki/api/v1/labels')) {
        await page.getByText('Waiting for the server API').waitFor();
        assert.deepEqual(errors, []);
        return;
      }
      let query = LOGQL;
      if (!query) {
        const labels = (await apiJSON('/loki/api/v1/labels')).data ?? [];
        assert.ok(labels.length > 0, 'the server knows no stream labels');
        query = `{${labels[0]}=~".+"}`;
      }
      const editor = page.getByRole('combobox', { name: 'LogQL query' });
      await editor.fill(query);
      await page.getByTestId('run-logs').click();
      await page.getByTestId('log-count').waitFor();
      const rows = page.getByRole('option').filter({ has: page.locator('.log-line') });
      await rows.first().waitFor();
      assert.equal(new URL(page.url()).searchParams.get('q'), query);
      await page.locator('.volume svg rect').first().waitFor();
      const want = LOG_LINE;
      if (want) await page.locator('.log-line', { hasText: want }).first().waitFor();
      await rows.first().click();
      await page.getByRole('complementary', { name: 'Log line details' }).waitFor();
      await shot(page, 'logs-search-dark');
      if (SEEDING && !missingApis.has('/api/services')) {
        // The trace id in a line is a link to that trace.
        const line = page.getByRole('option').filter({ hasText: SEED.logTraceLine }).first();
        const link = line.locator('a.log-trace');
        assert.equal((await link.getAttribute('href')).split('?')[0], `/traces/${seededTraces[seededTraces.length - 1]}`);
        await link.click();
        await page.getByTestId('span-count').waitFor();
        assert.equal(Number(await page.getByTestId('span-count').textContent()), SEED.spansPerTrace);
      }
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a one-minute range labels the volume axis with seconds; parsed fields are not called stream labels', async (t) => {
    if (!SEEDING || missingApis.has('/loki/api/v1/labels')) return t.skip('needs the seeded logs');
    const q = '{service_name="frontend"} | json';
    // The JSON line's own time: the range is the minute around it.
    const found = await apiJSON(
      `/loki/api/v1/query_range?query=${encodeURIComponent('{service_name="frontend"} |= "upstream reset"')}&start=${(Date.now() - 3600000)}000000&end=${Date.now() + 60000}000000&limit=1`,
    );
    const ns = found.data.result[0]?.values?.[0]?.[0];
    assert.ok(ns, 'the seeded JSON line is not found');
    const at = Number(ns.slice(0, -6));
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/logs', { q, from: String(at - 30000), to: String(at + 30000) }), { waitUntil: 'networkidle' });
      await page.locator('.volume svg rect').first().waitFor();
      const ticks = await page.locator('.volume svg text.axis-text').allTextContents();
      const times = ticks.filter((x) => /^\d\d:\d\d/.test(x));
      assert.ok(times.length >= 3, `time ticks: ${ticks.join(' | ')}`);
      assert.equal(new Set(times).size, times.length, `repeated time ticks: ${times.join(' | ')}`);
      assert.ok(times.every((x) => /^\d\d:\d\d:\d\d$/.test(x)), `ticks without seconds: ${times.join(' | ')}`);
      await page.getByRole('option').filter({ hasText: 'upstream reset' }).first().click();
      const details = page.getByRole('complementary', { name: 'Log line details' });
      await details.waitFor();
      const section = (title) => details.locator('.span-section').filter({ has: page.locator('.span-section-title', { hasText: title }) });
      const keys = async (title) => (await section(title).locator('.kv-key').allTextContents()).sort();
      assert.deepEqual(await keys('Stream labels'), ['level', 'service_name']);
      const fields = await keys('Fields');
      for (const k of ['msg', 'path', 'pod', 'status', 'user']) assert.ok(fields.includes(k), `fields ${fields.join(', ')} lack ${k}`);
      await shot(page, 'logs-minute-json-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a bad LogQL query shows the server error', async () => {
    if (missingApis.has('/loki/api/v1/labels')) return;
    const { context, page } = await openPage('light');
    try {
      await page.goto(url('/logs'), { waitUntil: 'networkidle' });
      const editor = page.getByRole('combobox', { name: 'LogQL query' });
      await editor.fill('{(((');
      await editor.press('Escape');
      await page.getByTestId('run-logs').click();
      const alert = page.getByRole('alert').first();
      await alert.waitFor();
      assert.match((await alert.textContent()) ?? '', /HTTP 400/);
      await shot(page, 'logs-error-light');
    } finally {
      await context.close();
    }
  });
});

describe('service map', () => {
  test('shows every service and call path the server reports', async () => {
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/service-map'), { waitUntil: 'networkidle' });
      if (missingApis.has('/api/dependencies')) {
        await page.getByText('Waiting for the server API').waitFor();
        assert.deepEqual(errors, []);
        return;
      }
      const now = Date.now();
      const links = (await apiJSON(`/api/dependencies?endTs=${now}&lookback=3600000`)).data;
      if (links.length === 0) {
        await page.getByText('No calls between services').waitFor();
        return;
      }
      const services = new Set(links.flatMap((l) => [l.parent, l.child]));
      const pairs = new Set(links.map((l) => `${l.parent}>${l.child}`));
      if (SEEDING) {
        for (const e of SEED.edges) assert.ok(pairs.has(e), `the server reports no ${e} call path`);
      }
      const nodes = page.getByTestId('map-node');
      await nodes.first().waitFor();
      assert.equal(await nodes.count(), services.size);
      assert.equal(await page.locator('.map-edge').count(), pairs.size);
      if (SEEDING) {
        for (const e of SEED.edges) await page.locator(`.map-edge[data-edge="${e}"]`).waitFor();
        // Every seeded payment charge fails: that edge is drawn unhealthy, with its rate, errors and p95.
        const bad = page.locator('.map-edge[data-edge="checkout>payment"]');
        await page.locator('.map-edge.health-bad[data-edge="checkout>payment"]').waitFor();
        assert.match((await bad.locator('text').allTextContents()).join(' '), /\/(s|min) · 100% err.*p95/);
        await page.locator('.map-edge.health-ok[data-edge="frontend>checkout"]').waitFor();
      }
      const first = [...services].sort()[0];
      await page.getByRole('button', { name: first, exact: true }).click();
      const panel = page.getByRole('complementary', { name: `Service ${first}` });
      await panel.waitFor();
      assert.equal(new URL(page.url()).searchParams.get('service'), first);
      if (SEEDING) await panel.getByRole('region', { name: 'Request rate' }).getByTestId('chart').locator('canvas').waitFor();
      await page.waitForLoadState('networkidle');
      await shot(page, 'service-map-selected-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
