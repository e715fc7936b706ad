// Browser tests of the sightline UI in Debian's headless Chromium, driven by
// playwright-core (no browser download). The server under test is taken from
// SIGHTLINE_URL; it must serve the built UI and the Prometheus HTTP API.
//
//   SIGHTLINE_URL=http://127.0.0.1:9800 node e2e/run.mjs
//
// Optional environment:
//   SIGHTLINE_E2E_QUERY   PromQL the metrics test runs (default: "up"); it must return data
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

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:9800').replace(/\/$/, '');
const QUERY = process.env.SIGHTLINE_E2E_QUERY ?? 'up';
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

async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

async function apiJSON(p) {
  const headers = TENANT ? { 'X-Scope-OrgID': TENANT } : {};
  const res = await fetch(BASE + p, { headers });
  assert.equal(res.status, 200, `${p} answered HTTP ${res.status}`);
  return res.json();
}

before(async () => {
  await probeMissingApis();
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
      const name = active[0].labels.alertname;
      const rule = groups.flatMap((g) => g.rules).find((r) => r.name === name);
      const group = page.locator('.alert-group', { hasText: name });
      await group.getByRole('link', { name: 'Open metric' }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Metrics explorer' }).waitFor();
      assert.equal(new URL(page.url()).searchParams.get('q'), rule.query);
      const chart = page.getByTestId('chart');
      await chart.locator('canvas').waitFor();
      assert.ok(Number(await chart.getAttribute('data-series')) > 0, 'the alert metric graph is empty');
      await shot(page, 'alerts-to-metric-dark');
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
      const again = await page.waitForRequest((r) => r.url().endsWith('/api/v1/query_range'), { timeout: 8000 });
      assert.equal(new URLSearchParams(again.postData() ?? '').get('query'), QUERY);
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
      let query = process.env.SIGHTLINE_E2E_LOGQL;
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
      const want = process.env.SIGHTLINE_E2E_LOG_LINE;
      if (want) await page.locator('.log-line', { hasText: want }).first().waitFor();
      await rows.first().click();
      await page.getByRole('complementary', { name: 'Log line details' }).waitFor();
      await shot(page, 'logs-search-dark');
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
      const nodes = page.getByTestId('map-node');
      await nodes.first().waitFor();
      assert.equal(await nodes.count(), services.size);
      assert.equal(await page.locator('.map-edge').count(), pairs.size);
      const first = [...services].sort()[0];
      await page.getByRole('button', { name: first, exact: true }).click();
      await page.getByRole('complementary', { name: `Service ${first}` }).waitFor();
      assert.equal(new URL(page.url()).searchParams.get('service'), first);
      await shot(page, 'service-map-selected-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
