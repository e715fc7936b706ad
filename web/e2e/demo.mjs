// Browser tests over a running `sightline demo`: the shop's own telemetry,
// seen through every page in Debian's headless Chromium (playwright-core,
// no browser download), and the on-call path of the seed walked with clicks:
// a fault is switched on, its alert fires, and the alert leads to its metric,
// the service's logs of that minute, the trace of a failing request and the
// service map. scripts/test-ui.sh starts the demo and runs this file.
//
//   SIGHTLINE_URL=http://127.0.0.1:9800 SIGHTLINE_DEMO_GATEWAY=http://127.0.0.1:41234 \
//     SIGHTLINE_BINARY=bin/sightline node e2e/demo.mjs
//
// Environment:
//   SIGHTLINE_URL           the demo's server (UI and APIs)
//   SIGHTLINE_DEMO_GATEWAY  the shop gateway's URL the demo printed (faults are switched there)
//   SIGHTLINE_BINARY        switch the fault with `sightline demo fault` as a user would;
//                           without it the gateway's POST /faults/{name} endpoint is used
//   SIGHTLINE_SCREENSHOTS   where screenshots go (default: <repo>/e2e/screenshots)
//   CHROMIUM_PATH           browser binary (default: /usr/bin/chromium)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.SIGHTLINE_URL ?? 'http://127.0.0.1:9800').replace(/\/$/, '');
const GATEWAY = (process.env.SIGHTLINE_DEMO_GATEWAY ?? '').replace(/\/$/, '');
const BINARY = process.env.SIGHTLINE_BINARY ?? '';
const SHOTS = process.env.SIGHTLINE_SCREENSHOTS ?? path.resolve(here, '../../e2e/screenshots');
const VIEWPORT = { width: 1440, height: 900 };

/** The shop: instrumented services, the uninstrumented nodes they call, and the call paths of normal traffic. */
const SERVICES = ['cart', 'catalog', 'checkout', 'gateway', 'inventory', 'payment'];
const BACKENDS = ['kafka', 'postgres'];
const EDGES = [
  'gateway>catalog', 'gateway>cart', 'gateway>checkout',
  'checkout>cart', 'checkout>inventory', 'checkout>payment', 'checkout>kafka',
  'catalog>postgres', 'checkout>postgres', 'inventory>postgres', 'payment>postgres',
];
/** The fault the on-call path follows, the alert the demo's shipped rules raise for it, and what its failures log. */
const FAULT = 'pool';
const ALERT = 'DemoDBPoolExhausted';
const FAULT_SERVICE = 'checkout';
const FAULT_LOG = 'Connection is not available';

let browser;

function url(p, params = {}) {
  const u = new URL(BASE + p);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

async function apiJSON(p) {
  const res = await fetch(BASE + p);
  assert.equal(res.status, 200, `${p} answered HTTP ${res.status}`);
  return res.json();
}

/** Polls fn until it returns a truthy value or the time runs out; the last error explains a timeout. */
async function eventually(what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error('not yet');
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: gave up after ${timeoutMs / 1000}s: ${last?.message}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A fresh page in the given theme that records console errors, page crashes and failed requests. */
async function openPage(theme) {
  const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: theme });
  await context.addInitScript((t) => localStorage.setItem('sightline.theme', t), theme);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()} (${m.location()?.url ?? ''})`));
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A request replaced by a newer one is aborted on purpose.
    if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? '')) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return { context, page, errors };
}

async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: path.join(SHOTS, `demo-${name}.png`) });
}

async function heading(page, name) {
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

/** Switches a demo fault the way the demo's welcome text says to. */
async function switchFault(name, on) {
  if (BINARY) {
    const out = execFileSync(BINARY, ['demo', 'fault', name, on ? '--on' : '--off', '--addr', GATEWAY], { encoding: 'utf8' });
    assert.match(out, new RegExp(`^${name}\\s+${on ? 'on' : 'off'}$`, 'm'), `sightline demo fault printed:\n${out}`);
    return;
  }
  const res = await fetch(`${GATEWAY}/faults/${name}?on=${on}`, { method: 'POST' });
  assert.equal(res.status, 200, `POST /faults/${name} answered HTTP ${res.status}`);
  assert.equal((await res.json())[name], on);
}

/** Ids of recent checkout traces, most services first. */
async function checkoutTraces() {
  // Traces that started a while ago are complete (no span still on its way).
  const settled = Date.now() * 1000 - 15e6;
  const q = new URLSearchParams({
    service: 'gateway', operation: 'POST /api/checkout', limit: '20',
    start: String(settled - 3600e6), end: String(settled),
  });
  const traces = (await apiJSON(`/api/traces?${q}`)).data ?? [];
  return traces
    .filter((t) => Math.min(...t.spans.map((sp) => sp.startTime)) < settled)
    .map((t) => ({ id: t.traceID, services: new Set(Object.values(t.processes).map((p) => p.serviceName)), spans: t.spans.length }))
    .sort((a, b) => b.services.size - a.services.size);
}

/** Boxes of SVG elements in page coordinates. */
async function boxes(locator) {
  return locator.evaluateAll((els) =>
    els.map((el) => {
      const r = el.getBoundingClientRect();
      return { x: r.x, y: r.y, w: r.width, h: r.height, id: el.closest('[data-edge]')?.getAttribute('data-edge') ?? el.getAttribute('aria-label') ?? '' };
    }),
  );
}

function overlap(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

before(async () => {
  assert.ok(GATEWAY, 'SIGHTLINE_DEMO_GATEWAY is not set');
  // The demo has data once every service, backend and call path is in the
  // service graph, checkout traces span four services and each service's
  // log file has reached the server through its agent.
  await eventually('the demo service graph', 90_000, async () => {
    const links = (await apiJSON(`/api/dependencies?endTs=${Date.now()}&lookback=3600000`)).data ?? [];
    const have = new Set(links.map((l) => `${l.parent}>${l.child}`));
    const missing = EDGES.filter((e) => !have.has(e));
    if (missing.length) throw new Error(`call paths missing: ${missing.join(', ')}`);
    return true;
  });
  await eventually('traces across four services', 60_000, async () => (await checkoutTraces())[0]?.services.size >= 4);
  await eventually('logs of every service', 60_000, async () => {
    const got = (await apiJSON('/loki/api/v1/label/service_name/values')).data ?? [];
    const missing = SERVICES.filter((s) => !got.includes(s));
    if (missing.length) throw new Error(`no logs from ${missing.join(', ')}`);
    return true;
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (GATEWAY) await switchFault(FAULT, false);
});

describe('on-call path over the demo: alert → metric → logs → trace → map', () => {
  test(`the ${FAULT} fault fires ${ALERT} and the clicks lead to a failing request`, async () => {
    const baseline = ((await apiJSON('/api/v1/alerts')).data.alerts ?? []).filter((a) => a.labels.alertname === ALERT);
    assert.deepEqual(baseline, [], `${ALERT} is active before the fault is switched on`);
    await switchFault(FAULT, true);
    const { context, page, errors } = await openPage('dark');
    try {
      // The alert fires on /alerts (the page is reloaded as a user would).
      await page.goto(url('/alerts'), { waitUntil: 'networkidle' });
      const group = page.locator('.alert-group', { hasText: ALERT });
      await eventually(`${ALERT} on /alerts`, 90_000, async () => {
        if ((await group.count()) > 0 && /firing/.test((await group.first().textContent()) ?? '')) return true;
        await page.reload({ waitUntil: 'networkidle' });
        return false;
      });
      await group.getByText(`service=${FAULT_SERVICE}`).first().waitFor();
      // Let it fire for a while, so that its last minute holds a graph.
      await eventually(`${ALERT} firing for 20s`, 60_000, async () => {
        const a = ((await apiJSON('/api/v1/alerts')).data.alerts ?? []).find((x) => x.labels.alertname === ALERT);
        return a?.state === 'firing' && Date.now() - Date.parse(a.activeAt) > 20_000;
      });
      await page.reload({ waitUntil: 'networkidle' });
      await group.scrollIntoViewIfNeeded();
      await shot(page, 'oncall-1-alert-dark');

      // → its metric over the firing window.
      await group.getByRole('link', { name: 'Open metric' }).first().click();
      await heading(page, 'Metrics explorer');
      const rule = (await apiJSON('/api/v1/rules')).data.groups.flatMap((g) => g.rules).find((r) => r.name === ALERT);
      assert.equal(new URL(page.url()).searchParams.get('q'), rule.query);
      const chart = page.getByTestId('chart');
      await chart.locator('canvas').waitFor();
      assert.ok(Number(await chart.getAttribute('data-series')) >= 1, 'the alert metric graph is empty');
      await shot(page, 'oncall-2-metric-dark');

      // Drag over the last minute of the graph to zoom into it.
      const over = chart.locator('.u-over');
      const b = await over.boundingBox();
      const from0 = Number(new URL(page.url()).searchParams.get('from'));
      const pxPerMs = b.width / (Date.now() - from0);
      const left = Math.max(b.x + 2, b.x + b.width - 2 - 60_000 * pxPerMs);
      await page.mouse.move(left, b.y + b.height / 2);
      await page.mouse.down();
      await page.mouse.move(left + 20, b.y + b.height / 2, { steps: 4 });
      await page.mouse.move(b.x + b.width - 2, b.y + b.height / 2, { steps: 4 });
      await page.mouse.up();
      await page.waitForURL((u) => /^\d+$/.test(new URL(u).searchParams.get('to') ?? ''));
      const zoomed = new URL(page.url()).searchParams;
      const span = Number(zoomed.get('to')) - Number(zoomed.get('from'));
      assert.ok(span > 20_000 && span < 150_000, `the zoomed range spans ${span / 1000}s, not about a minute`);
      await chart.locator('canvas').waitFor();
      assert.ok(Number(await chart.getAttribute('data-series')) >= 1, `the alert metric has no data in ${zoomed}`);
      await shot(page, 'oncall-2-metric-minute-dark');

      // → that service's logs of that minute.
      const related = page.getByLabel('Related logs and traces').locator('.related-service', { hasText: FAULT_SERVICE });
      await related.getByRole('link', { name: 'logs' }).click();
      await heading(page, 'Logs');
      const logsURL = new URL(page.url()).searchParams;
      assert.equal(logsURL.get('q'), `{service_name="${FAULT_SERVICE}"}`);
      assert.equal(logsURL.get('from'), zoomed.get('from'));
      assert.equal(logsURL.get('to'), zoomed.get('to'));
      await page.locator('.log-line').first().waitFor();
      // Narrow them to the failing requests.
      const editor = page.getByRole('combobox', { name: 'LogQL query' });
      await editor.fill(`{service_name="${FAULT_SERVICE}"} |= "${FAULT_LOG}"`);
      await editor.press('Escape');
      await page.getByTestId('run-logs').click();
      const failing = page.getByRole('option').filter({ hasText: FAULT_LOG }).filter({ has: page.locator('a.log-trace') }).first();
      await failing.waitFor();
      assert.equal(new URL(page.url()).searchParams.get('from'), zoomed.get('from'));
      await shot(page, 'oncall-3-logs-dark');

      // → the trace of that failing request.
      const traceHref = await failing.locator('a.log-trace').getAttribute('href');
      const traceID = traceHref.split('?')[0].split('/').pop();
      await failing.locator('a.log-trace').click();
      await page.getByTestId('span-count').waitFor();
      // The request failed moments ago: its last spans may still be on
      // their way, so the page must agree with the API once both settle.
      await eventually('the trace page shows every span', 20_000, async () => {
        const want = (await apiJSON(`/api/traces/${traceID}`)).data[0].spans.length;
        if (Number(await page.getByTestId('span-count').textContent()) === want) return true;
        await page.reload({ waitUntil: 'networkidle' });
        await page.getByTestId('span-count').waitFor();
        return false;
      });
      assert.ok(await page.locator('.wf-row.error').count() > 0, 'the failing request shows no error span');
      await page.locator('.wf-row.error', { hasText: FAULT_SERVICE }).first().waitFor();
      await shot(page, 'oncall-4-trace-dark');

      // → the service map around the trace's root service.
      await page.locator('.trace-header').getByRole('link', { name: 'Service map' }).click();
      await heading(page, 'Service map');
      await page.getByRole('complementary', { name: 'Service gateway' }).waitFor();
      for (const n of [...SERVICES, ...BACKENDS]) await page.locator(`[data-testid="map-node"][aria-label="${n}"]`).waitFor();
      await shot(page, 'oncall-5-map-dark');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});

for (const theme of ['dark', 'light']) {
  describe(`every page shows the demo's data (${theme})`, () => {
    /** Opens a page, runs its checks, screenshots it and asserts no console errors. */
    const visit = (name, p, params, check) =>
      test(name, async () => {
        const { context, page, errors } = await openPage(theme);
        try {
          await page.goto(url(p, params), { waitUntil: 'networkidle' });
          await check(page);
          await shot(page, `${name}-${theme}`);
          assert.deepEqual(errors, []);
        } finally {
          await context.close();
        }
      });

    visit('logs', '/logs', { q: '{service_name=~"gateway|catalog|checkout"}', from: 'now-5m', to: 'now' }, async (page) => {
      await heading(page, 'Logs');
      await page.getByTestId('log-count').waitFor();
      await page.locator('.volume svg rect').first().waitFor();
      const lines = await page.locator('.log-line').allTextContents();
      assert.ok(lines.length >= 10, `only ${lines.length} lines shown`);
      await page.getByRole('option').filter({ has: page.locator('.log-line') }).first().click();
      const details = page.getByRole('complementary', { name: 'Log line details' });
      await details.waitFor();
      assert.match((await details.textContent()) ?? '', /service_name/);
    });

    visit('graph', '/graph', { q: 'sum by (service) (rate(shop_requests_total[1m]))', from: 'now-5m', to: 'now' }, async (page) => {
      await heading(page, 'Metrics explorer');
      const chart = page.getByTestId('chart');
      await chart.locator('canvas').waitFor();
      assert.equal(Number(await chart.getAttribute('data-series')), SERVICES.length);
      const related = await page.getByLabel('Related logs and traces').locator('.related-service b').allTextContents();
      assert.deepEqual(related, SERVICES);
    });

    visit('dashboards', '/dashboards/service-overview', { from: 'now-5m', to: 'now' }, async (page) => {
      await page.getByRole('heading', { level: 2, name: 'Service overview' }).waitFor();
      for (const title of ['Request rate', 'Error ratio', 'Latency p95']) {
        const chart = page.getByRole('region', { name: title, exact: true }).getByTestId('chart');
        await chart.locator('canvas').waitFor();
      }
      const rate = page.getByRole('region', { name: 'Request rate', exact: true }).getByTestId('chart');
      assert.ok(Number(await rate.getAttribute('data-series')) >= SERVICES.length, 'request rate lacks some services');
    });

    visit('traces', '/traces', { service: 'gateway', operation: 'POST /api/checkout', from: 'now-5m', to: 'now' }, async (page) => {
      await heading(page, 'Traces');
      await page.getByRole('heading', { name: /\d+ traces?/ }).waitFor();
      const rows = page.locator('a.trace-row');
      await rows.first().waitFor();
      assert.ok((await rows.count()) > 0);
      assert.match((await rows.first().textContent()) ?? '', /gateway: POST \/api\/checkout/);
    });

    test('trace view', async () => {
      const best = (await checkoutTraces())[0];
      assert.ok(best && best.services.size >= 4, 'no checkout trace spans four services');
      const { context, page, errors } = await openPage(theme);
      try {
        await page.goto(url(`/traces/${best.id}`), { waitUntil: 'networkidle' });
        await page.getByTestId('span-count').waitFor();
        const spans = (await apiJSON(`/api/traces/${best.id}`)).data[0].spans.length;
        assert.equal(Number(await page.getByTestId('span-count').textContent()), spans);
        assert.equal(await page.getByRole('treeitem').count(), spans);
        const facts = page.locator('.fact', { hasText: 'Services' }).locator('.fact-value');
        assert.equal(Number(await facts.textContent()), best.services.size);
        for (const s of best.services) await page.getByRole('tree').getByText(s, { exact: true }).first().waitFor();
        await shot(page, `trace-view-${theme}`);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });

    visit('service-map', '/service-map', { from: 'now-5m', to: 'now' }, async (page) => {
      await heading(page, 'Service map');
      for (const n of [...SERVICES, ...BACKENDS]) await page.locator(`[data-testid="map-node"][aria-label="${n}"]`).waitFor();
      for (const e of EDGES) await page.locator(`.map-edge[data-edge="${e}"]`).waitFor();
      // Every edge's rate, errors and p95 are readable: no label overlaps
      // another label or a node.
      const labels = await boxes(page.locator('.map-edge-tag'));
      assert.equal(labels.length, await page.locator('.map-edge').count());
      const nodes = await boxes(page.getByTestId('map-node'));
      for (const [i, a] of labels.entries()) {
        for (const b of labels.slice(i + 1)) assert.ok(!overlap(a, b), `the labels of ${a.id} and ${b.id} overlap`);
        for (const n of nodes) assert.ok(!overlap(a, n), `the label of ${a.id} covers node ${n.id}`);
      }
      const text = (await page.locator('.map-edge[data-edge="checkout>postgres"] text').allTextContents()).join(' ');
      assert.match(text, /\/(s|min) · \d.*% err.*p95/);
    });

    visit('alerts', '/alerts', {}, async (page) => {
      await heading(page, 'Alerts');
      await page.getByRole('heading', { name: 'Rules' }).waitFor();
      const rules = await page.locator('.rules-table tbody tr').allTextContents();
      for (const r of ['DemoSlowService', 'DemoErrorBurst', 'DemoDBPoolExhausted', 'DemoForbiddenCall', 'DemoConnectionPoolTimeouts', 'DemoPaymentDeclines']) {
        assert.ok(rules.some((t) => t.includes(r)), `rule ${r} is not listed`);
      }
      // Every active alert (the fault's, while it is on) is listed with its state.
      const active = (await apiJSON('/api/v1/alerts')).data.alerts ?? [];
      for (const a of active) await page.locator('.alert-group', { hasText: a.labels.alertname }).first().waitFor();
      if (active.length === 0) await page.getByText('No alert is firing or pending.').waitFor();
    });
  });
}
