// Browser tests of user dashboards and of the trace waterfall with a big
// trace, in headless Chromium against the real binary (SIGHTLINE_URL). The
// data they draw is sent first over OTLP/HTTP JSON; every wait polls with a
// deadline. Imported by run.mjs, so `node e2e/run.mjs` runs these too; it
// also runs alone: SIGHTLINE_URL=http://127.0.0.1:9800 node e2e/dashboards.mjs
//
// What is checked:
//   - a Grafana dashboard JSON (timeseries, stat, table, an unsupported
//     heatmap, a label_values variable) imports, and its panels draw the
//     seeded series; the heatmap stays visible as an "unsupported panel"
//   - Export downloads sightline JSON with the same panels
//   - Edit adds a panel with a PromQL query and saves (version 2); a save
//     over a stale version is refused with HTTP 409; after a reload the
//     edited dashboard is found again, in the list and by its link
//   - a dashboard is deleted from its page and leaves the list
//   - a 5,000-span trace opens with the right span count while the DOM holds
//     only the rows around the viewport, also after scrolling to the end

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:9800').replace(/\/$/, '');
const TENANT = process.env.SIGHTLINE_TENANT ?? '';
const SHOTS = process.env.SIGHTLINE_SCREENSHOTS ?? path.resolve(here, '../../e2e/screenshots');
const VIEWPORT = { width: 1440, height: 900 };

const METRIC = 'e2e_dash_inflight_requests';
// OTLP resources become the job label (service.name), as Prometheus' OTLP translation does.
const JOBS = ['e2e-dash-api', 'e2e-dash-worker'];
const BIG_TRACE_SPANS = 5000;
// A unique uid per run, so a rerun against the same server starts clean.
const RUN = Date.now().toString(36);
const UID = `e2e-grafana-${RUN}`;

const hex = (n, len) => n.toString(16).padStart(len, '0');
const attr = (key, value) => ({ key, value: { stringValue: value } });
const nanos = (ms) => `${BigInt(Math.round(ms)) * 1000000n}`;
const headers = (extra = {}) => (TENANT ? { 'X-Scope-OrgID': TENANT, ...extra } : extra);

async function post(p, body) {
  const res = await fetch(BASE + p, { method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body) });
  const text = await res.text();
  assert.ok(res.ok, `POST ${p} answered HTTP ${res.status}: ${text.slice(0, 300)}`);
}

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

/** A gauge per job every 15 s over the last 10 minutes. */
function metricsBody(now) {
  return {
    resourceMetrics: JOBS.map((job, i) => ({
      resource: { attributes: [attr('service.name', job)] },
      scopeMetrics: [
        {
          scope: { name: 'e2e-dashboards' },
          metrics: [
            {
              name: METRIC,
              description: 'Requests in flight.',
              gauge: {
                dataPoints: Array.from({ length: 41 }, (_, k) => ({
                  timeUnixNano: nanos(now - (40 - k) * 15000),
                  asDouble: 10 * (i + 1) + (k % 5),
                  attributes: [attr('pool', 'default')],
                })),
              },
            },
          ],
        },
      ],
    })),
  };
}

/** One trace of BIG_TRACE_SPANS spans: each span has up to 50 children, all in one service pair. */
function bigTrace(now) {
  const tid = `b16${hex(Date.now(), 29)}`;
  const id = (k) => hex(0xb1600000000 + k, 16);
  const start = now - 120000;
  const spans = [];
  for (let k = 0; k < BIG_TRACE_SPANS; k++) {
    const parent = k === 0 ? -1 : Math.floor((k - 1) / 50);
    const from = k === 0 ? 0 : 5 + (k % 50) * 15 + Math.floor(k / 50);
    spans.push({
      traceId: tid,
      spanId: id(k),
      parentSpanId: parent < 0 ? '' : id(parent),
      name: k === 0 ? 'GET /big-report' : `render row ${k}`,
      // Internal spans only: a server span would add a service to the span-metrics
      // dashboards that run.mjs checks against its own seed.
      kind: 1,
      startTimeUnixNano: nanos(start + from),
      endTimeUnixNano: nanos(start + from + (k === 0 ? 2000 : 10 + (k % 7))),
      attributes: [attr('row', String(k))],
      status: k % 997 === 0 && k > 0 ? { code: 2, message: 'row failed' } : { code: 1 },
    });
  }
  return { tid, spans };
}

let browser;
let traceID = '';

before(async () => {
  const now = Date.now();
  await post('/otlp/v1/metrics', metricsBody(now));
  const { tid, spans } = bigTrace(now);
  traceID = tid;
  // Several requests, as an SDK's batches would arrive.
  for (let i = 0; i < spans.length; i += 1000) {
    await post('/otlp/v1/traces', {
      resourceSpans: [{ resource: { attributes: [attr('service.name', 'e2e-report')] }, scopeSpans: [{ scope: { name: 'e2e' }, spans: spans.slice(i, i + 1000) }] }],
    });
  }
  const q = encodeURIComponent(METRIC);
  await until('the dashboard metric', async () => {
    const r = await (await fetch(`${BASE}/api/v1/query?query=${q}`, { headers: headers() })).json();
    return r?.data?.result?.length === JOBS.length;
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

function url(p, params = {}) {
  const u = new URL(BASE + p);
  if (TENANT) u.searchParams.set('tenant', TENANT);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

async function openPage(theme = 'dark') {
  const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: theme, acceptDownloads: true });
  await context.addInitScript((t) => localStorage.setItem('sightline.theme', t), theme);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The stale save below is refused on purpose; the browser logs its 409.
    if (/status of 409/.test(m.text())) return;
    errors.push(`console: ${m.text()} (${m.location()?.url ?? ''})`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  return { context, page, errors };
}

async function shot(page, name, fullPage = false) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

function grafanaDashboard() {
  return {
    uid: UID,
    title: 'E2E Grafana import',
    tags: ['e2e'],
    schemaVersion: 39,
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus' },
        { name: 'job', label: 'Job', type: 'query', query: { query: `label_values(${METRIC}, job)` }, includeAll: true, current: { value: '$__all' } },
      ],
    },
    panels: [
      {
        id: 1,
        type: 'timeseries',
        title: 'In flight by job',
        gridPos: { x: 0, y: 0, w: 16, h: 9 },
        fieldConfig: { defaults: { unit: 'short' } },
        targets: [{ refId: 'A', expr: `sum by (job) (${METRIC}{job=~"$job"})`, legendFormat: '{{job}}' }],
      },
      {
        id: 2,
        type: 'stat',
        title: 'Most in flight',
        gridPos: { x: 16, y: 0, w: 8, h: 4 },
        targets: [{ refId: 'A', expr: `max(${METRIC}{job=~"$job"})` }],
      },
      {
        id: 3,
        type: 'heatmap',
        title: 'Latency heatmap',
        gridPos: { x: 16, y: 4, w: 8, h: 5 },
        targets: [{ refId: 'A', expr: 'sum by (le) (rate(http_request_duration_seconds_bucket[5m]))' }],
      },
      {
        id: 4,
        type: 'table',
        title: 'Per job',
        gridPos: { x: 0, y: 9, w: 24, h: 6 },
        targets: [{ refId: 'A', expr: `${METRIC}{job=~"$job"}`, legendFormat: '{{job}}' }],
      },
    ],
  };
}

describe('user dashboards', () => {
  test('a Grafana dashboard imports, draws its data, exports, is edited, saved and found after a reload', async () => {
    const { context, page, errors } = await openPage('dark');
    try {
      await page.goto(url('/dashboards'), { waitUntil: 'networkidle' });
      await page.getByRole('button', { name: 'Import JSON' }).click();
      await page.getByLabel('Dashboard JSON', { exact: true }).fill(JSON.stringify(grafanaDashboard(), null, 2));
      await shot(page, 'dashboards-import-dark');
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      await page.waitForURL((u) => u.pathname === `/dashboards/u/${UID}`);
      await page.getByRole('heading', { level: 2, name: 'E2E Grafana import' }).waitFor();

      // Every panel is there, the heatmap as a visible note.
      const panels = page.locator('section.ud-panel');
      await until('four panels', async () => (await panels.count()) === 4, 20000);
      const graph = page.locator('section.ud-panel', { has: page.getByRole('heading', { name: 'In flight by job' }) });
      await graph.locator('.uplot canvas').first().waitFor();
      for (const job of JOBS) await graph.getByText(job, { exact: true }).first().waitFor();
      await page.locator('.ud-stat-value').first().waitFor();
      assert.match(await page.locator('.ud-stat-value').first().textContent(), /^\d+(\.\d+)?$/);
      const table = page.locator('section.ud-panel', { has: page.getByRole('heading', { name: 'Per job' }) });
      await until('a table row per job', async () => (await table.locator('tbody tr').count()) === JOBS.length, 20000);
      const note = page.locator('section.ud-panel', { has: page.getByRole('heading', { name: 'Latency heatmap' }) });
      await note.getByText(/unsupported panel: heatmap/i).waitFor();
      await page.getByText(/data source picker/).waitFor(); // the import's notes are shown
      assert.equal(await page.locator('section.ud-type-stat').count(), 1);
      await shot(page, 'dashboards-grafana-import-dark');

      // Export downloads sightline JSON with the same panels.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
      assert.equal(download.suggestedFilename(), `${UID}.json`);
      const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
      assert.equal(exported.schema, 'sightline.dashboard/v1');
      assert.equal(exported.uid, UID);
      assert.deepEqual(
        exported.panels.map((p) => [p.title, p.type]),
        [
          ['In flight by job', 'timeseries'],
          ['Most in flight', 'stat'],
          ['Latency heatmap', 'unsupported'],
          ['Per job', 'table'],
        ],
      );

      // Edit: rename, add a panel with a PromQL query, save.
      await page.getByRole('button', { name: 'Edit', exact: true }).click();
      await page.getByLabel('Dashboard title').fill('E2E Grafana import (edited)');
      await page.getByRole('button', { name: 'Add panel' }).click();
      await page.getByLabel('Panel title').last().fill('Worker in flight');
      const editor = page.getByLabel('Panel 5 query 1');
      await editor.fill(`${METRIC}{job="e2e-dash-worker"}`);
      await editor.press('Escape');
      await page.getByLabel('Panel 5 legend 1').fill('{{job}}');
      await page.getByRole('button', { name: 'Run queries' }).last().click();
      const preview = page.locator('.ud-panel-editor').last().locator('.uplot canvas').first();
      await preview.waitFor();
      await preview.scrollIntoViewIfNeeded();
      await shot(page, 'dashboards-edit-dark');
      await page.getByRole('button', { name: 'Save dashboard' }).click();
      await page.getByText('version 2').waitFor();

      // A save over the old version is refused.
      const stale = { ...exported, schema: undefined, version: 1, title: 'stale' };
      delete stale.schema;
      const res = await fetch(`${BASE}/api/v1/dashboards/${UID}`, {
        method: 'PUT',
        headers: headers({ 'Content-Type': 'application/json' }),
        body: JSON.stringify(stale),
      });
      assert.equal(res.status, 409, await res.text());

      // After a reload the edited dashboard is there, with the new panel drawing data.
      await page.reload({ waitUntil: 'networkidle' });
      await page.getByRole('heading', { level: 2, name: 'E2E Grafana import (edited)' }).waitFor();
      const added = page.locator('section.ud-panel', { has: page.getByRole('heading', { name: 'Worker in flight' }) });
      await added.locator('.uplot canvas').first().waitFor();
      await shot(page, 'dashboards-user-dark', true);
      await page.goto(url('/dashboards'), { waitUntil: 'networkidle' });
      const card = page.locator('a.dashboard-card', { hasText: 'E2E Grafana import (edited)' });
      await card.waitFor();
      assert.match(await card.textContent(), /5 panels · version 2/);
      await shot(page, 'dashboards-list-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  test('a dashboard created in the editor is deleted from its page (light)', async () => {
    const { context, page, errors } = await openPage('light');
    try {
      await page.goto(url('/dashboards/new'), { waitUntil: 'networkidle' });
      await page.getByLabel('Dashboard title').fill(`Scratch ${RUN}`);
      await page.getByRole('button', { name: 'Add panel' }).click();
      await page.getByLabel('Panel title').fill('Jobs');
      await page.getByLabel('Panel type').selectOption('stat');
      await page.getByLabel('Panel 1 query 1').fill(`count(${METRIC})`);
      await page.getByRole('button', { name: 'Save dashboard' }).click();
      await page.waitForURL((u) => u.pathname.startsWith('/dashboards/u/'));
      await page.getByText('version 1').waitFor();
      await until('the stat', async () => (await page.locator('.ud-stat-value').first().textContent()) === String(JOBS.length), 20000);
      await shot(page, 'dashboards-new-light');
      await page.getByRole('button', { name: 'Delete', exact: true }).click();
      await page.getByRole('button', { name: 'Delete for good' }).click();
      await page.waitForURL((u) => u.pathname === '/dashboards');
      await page.getByRole('heading', { name: 'Your dashboards' }).waitFor();
      await page.locator('a.dashboard-card').first().waitFor();
      assert.equal(await page.locator('a.dashboard-card', { hasText: `Scratch ${RUN}` }).count(), 0);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

describe('trace waterfall', () => {
  test(`a ${BIG_TRACE_SPANS}-span trace keeps the DOM small and scrolls to its last span`, async () => {
    await until('the big trace', async () => {
      const r = await (await fetch(`${BASE}/api/traces/${traceID}`, { headers: headers() })).json();
      return r?.data?.[0]?.spans?.length === BIG_TRACE_SPANS;
    });
    const { context, page, errors } = await openPage('dark');
    try {
      const t0 = Date.now();
      await page.goto(url(`/traces/${traceID}`), { waitUntil: 'networkidle' });
      await page.getByTestId('span-count').waitFor();
      assert.equal(Number(await page.getByTestId('span-count').textContent()), BIG_TRACE_SPANS);
      await page.getByRole('treeitem').first().waitFor();
      const openMs = Date.now() - t0;
      const rows = page.getByRole('treeitem');
      const first = await rows.count();
      assert.ok(first > 10 && first < 120, `${first} rows in the DOM at the top`);
      await shot(page, 'traces-big-top-dark');

      // Scroll through the whole list in steps, as a wheel would, timing each frame.
      const scroll = page.locator('.wf-scroll');
      const frames = await scroll.evaluate(async (el) => {
        const times = [];
        for (let y = 0; y <= el.scrollHeight; y += el.clientHeight) {
          const t = performance.now();
          el.scrollTop = y;
          await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        return { n: times.length, p50: times[Math.floor(times.length / 2)], max: times[times.length - 1] };
      });
      await page.locator(`[role="treeitem"][aria-posinset="${BIG_TRACE_SPANS}"]`).waitFor();
      const last = await rows.count();
      assert.ok(last > 10 && last < 120, `${last} rows in the DOM at the bottom`);
      console.log(`# big trace: opened in ${openMs} ms; ${frames.n} scroll steps, per step p50 ${frames.p50.toFixed(1)} ms, max ${frames.max.toFixed(1)} ms; ${first}/${last} rows in the DOM`);

      // A span's details open in place and the list still holds only nearby rows.
      await rows.last().getByRole('button').last().click();
      await page.getByRole('link', { name: 'Logs of this span' }).waitFor();
      assert.ok((await rows.count()) < 120);
      await shot(page, 'traces-big-bottom-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
