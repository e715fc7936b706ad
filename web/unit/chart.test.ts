import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyLegend, buildChart } from '../src/chartdata';
import { expandQuery, expandSelector, regexValue, BUILTIN_DASHBOARDS } from '../src/dashboards/builtin';
import { formatValue, parseSample, seriesName, unitFormatter } from '../src/format';

describe('buildChart', () => {
  test('aligns samples to start + k*step and leaves gaps null', () => {
    const { data, truncated } = buildChart(
      [
        {
          series: [{ metric: { a: '1' }, values: [[100, '1'], [130, '3']] }],
          label: (m) => `A${m.a}`,
        },
        { series: [{ metric: { b: '2' }, values: [[110, 'NaN'], [120, '+Inf'], [100.0004, '7']] }], label: () => 'B' },
      ],
      100,
      130,
      10,
      10,
    );
    assert.deepEqual(data.x, [100, 110, 120, 130]);
    assert.deepEqual(
      data.series.map((s) => [s.label, s.values]),
      [
        ['A1', [1, null, null, 3]],
        ['B', [7, null, null, null]],
      ],
    );
    assert.notEqual(data.series[0]?.color, data.series[1]?.color);
    assert.equal(truncated, 0);
  });
  test('keeps at most max series and counts the rest', () => {
    const series = Array.from({ length: 5 }, (_, i) => ({ metric: { i: String(i) }, values: [[0, '1']] as [number, string][] }));
    const { data, truncated } = buildChart([{ series, label: (m) => m.i ?? '' }], 0, 0, 1, 3);
    assert.equal(data.series.length, 3);
    assert.equal(truncated, 2);
  });
  test('draws native histograms by count', () => {
    const { data } = buildChart(
      [{ series: [{ metric: {}, histograms: [[0, { count: '12', sum: '3' }]] }], label: () => 'h' }],
      0,
      0,
      1,
      1,
    );
    assert.deepEqual(data.series[0]?.values, [12]);
  });
});

describe('labels and values', () => {
  test('seriesName sorts labels and keeps the metric name first', () => {
    assert.equal(seriesName({ __name__: 'up', job: 'x', instance: 'h:1' }), 'up{instance="h:1", job="x"}');
    assert.equal(seriesName({ job: 'x' }), '{job="x"}');
    assert.equal(seriesName({}), '{}');
  });
  test('applyLegend fills templates and blanks missing labels', () => {
    assert.equal(applyLegend('{{instance}} {{ device }} read', { instance: 'h', device: 'sda' }), 'h sda read');
    assert.equal(applyLegend('{{nope}}x', {}), 'x');
  });
  test('parseSample reads Prometheus special values', () => {
    assert.equal(parseSample('+Inf'), Infinity);
    assert.equal(parseSample('-Inf'), -Infinity);
    assert.ok(Number.isNaN(parseSample('NaN')));
    assert.equal(parseSample('3.1e+01'), 31);
  });
  test('formatValue', () => {
    const cases: [number | null, string][] = [
      [0, '0'],
      [1234, '1.23k'],
      [2_500_000, '2.5M'],
      [-1500, '-1.5k'],
      [0.5, '0.5'],
      [0.00012, '1.20e-4'],
      [NaN, 'NaN'],
      [Infinity, '+Inf'],
      [null, '—'],
    ];
    for (const [v, want] of cases) assert.equal(formatValue(v), want, String(v));
  });
  test('unit formatters', () => {
    assert.equal(unitFormatter('bytes')(1536), '1.5 KiB');
    assert.equal(unitFormatter('bytes/s')(3 * 1024 * 1024), '3 MiB/s');
    assert.equal(unitFormatter('seconds')(0.0042), '4.2 ms');
    assert.equal(unitFormatter('seconds')(0.0000015), '1.5 µs');
    assert.equal(unitFormatter('percent')(0.256), '25.6%');
    assert.equal(unitFormatter('ops')(2000), '2k/s');
  });
});

describe('dashboard queries', () => {
  const go = BUILTIN_DASHBOARDS.find((d) => d.id === 'go-runtime')!;
  test('All matches every value', () => {
    assert.equal(expandQuery('x{job=~"$job"}[$__rate]', go, '', '2m'), 'x{job=~".+"}[2m]');
  });
  test('a selected value is matched literally', () => {
    assert.equal(expandQuery('x{job=~"$job"}', go, 'api.v1 "x"', '1m'), 'x{job=~"api\\\\.v1 \\"x\\""}');
    assert.equal(regexValue('a+b'), 'a\\\\+b');
  });
  const overview = BUILTIN_DASHBOARDS.find((d) => d.id === 'service-overview')!;
  test('span-metric queries keep to the selected tenant', () => {
    // Default tenant: only the series without a tenant label.
    assert.equal(expandQuery('x{$__tenant, service=~"$service"}', overview, '', '1m'), 'x{tenant="", service=~".+"}');
    assert.equal(
      expandQuery('x{$__tenant, service=~"$service"}', overview, 'cart', '1m', 'acme "b"\\'),
      'x{tenant="acme \\"b\\"\\\\", service=~"cart"}',
    );
    assert.equal(expandSelector(overview.variable.from, 'acme'), 'traces_spanmetrics_calls_total{tenant="acme"}');
    for (const p of overview.panels)
      for (const q of p.queries) assert.ok(q.expr.includes('$__tenant'), `${p.title}: ${q.expr}`);
  });
  test('a value containing a placeholder is not expanded again', () => {
    assert.equal(expandQuery('x{$__tenant, service=~"$service"}', overview, '$__tenant', '1m', 't'), 'x{tenant="t", service=~"\\\\$__tenant"}');
  });
  test('every built-in query uses only known placeholders', () => {
    for (const d of BUILTIN_DASHBOARDS)
      for (const p of d.panels)
        for (const q of p.queries) {
          const left = expandQuery(q.expr, d, 'v', '1m');
          assert.ok(!left.includes('$'), `${d.id}/${p.title}: ${left}`);
        }
  });
});
