import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LokiStream } from '../src/api';
import { addFilter, compareNs, detectLevel, findTraceID, isMetricQuery, logQueryOf, looksLikeLogQL, normaliseLevel, splitStreamLabels, toRows, volumeQuery } from '../src/logs/model';

describe('levels', () => {
  const cases: [string | undefined, string][] = [
    ['ERROR', 'error'],
    ['err', 'error'],
    ['Warning', 'warn'],
    ['info', 'info'],
    ['notice', 'info'],
    ['DEBUG', 'debug'],
    ['trace', 'trace'],
    ['critical', 'fatal'],
    ['panic', 'fatal'],
    ['', 'unknown'],
    [undefined, 'unknown'],
    ['verbose-ish', 'unknown'],
  ];
  for (const [v, want] of cases) test(String(v), () => assert.equal(normaliseLevel(v), want));

  test('labels win over the line, then metadata, then the line', () => {
    assert.equal(detectLevel({ level: 'warn' }, {}, 'ERROR boom'), 'warn');
    assert.equal(detectLevel({}, { detected_level: 'debug' }, 'ERROR boom'), 'debug');
    assert.equal(detectLevel({}, {}, 'ts=1 level=error msg=x'), 'error');
    assert.equal(detectLevel({}, {}, '{"level":"warn","msg":"x"}'), 'warn');
    assert.equal(detectLevel({}, {}, '2024-01-01 INFO started'), 'info');
    assert.equal(detectLevel({}, {}, 'nothing to see'), 'unknown');
  });
});

describe('trace ids', () => {
  test('from fields or the line', () => {
    assert.equal(findTraceID({}, { trace_id: 'ABCDEF0123456789ABCDEF0123456789' }, ''), 'abcdef0123456789abcdef0123456789');
    assert.equal(findTraceID({}, {}, 'msg=x trace_id=0af7651916cd43dd8448eb211c80319c y'), '0af7651916cd43dd8448eb211c80319c');
    assert.equal(findTraceID({}, {}, '{"traceId":"4bf92f3577b34da6"}'), '4bf92f3577b34da6');
    assert.equal(findTraceID({}, { trace_id: 'not-hex' }, 'no id here'), '');
  });
});

describe('toRows', () => {
  const streams: LokiStream[] = [
    { stream: { app: 'a' }, values: [['1700000000000000002', 'second'], ['1700000000000000000', 'first']] },
    {
      stream: { app: 'b' },
      values: [['1700000000000000001', 'middle', { structuredMetadata: { trace_id: '0af7651916cd43dd8448eb211c80319c' }, parsed: { level: 'error' } }]],
    },
    { stream: { app: 'c' }, values: [['999999999999999999', 'older with fewer digits', { user: 'x' }]] },
  ];
  const rows = toRows(streams);
  test('newest first across streams, compared exactly', () => {
    assert.deepEqual(rows.map((r) => r.line), ['second', 'middle', 'first', 'older with fewer digits']);
    assert.equal(rows[0]?.ms, 1_700_000_000_000);
  });
  test('reads categorised and flat metadata', () => {
    assert.equal(rows[1]?.level, 'error');
    assert.equal(rows[1]?.traceID, '0af7651916cd43dd8448eb211c80319c');
    assert.deepEqual(rows[3]?.fields, { user: 'x' });
  });
  test('compareNs', () => {
    assert.ok(compareNs('999', '1000') < 0);
    assert.ok(compareNs('1001', '1000') > 0);
    assert.equal(compareNs('5', '5'), 0);
  });
});

describe('queries', () => {
  test('metric or log query', () => {
    assert.equal(isMetricQuery('{app="a"} |= "x"'), false);
    assert.equal(isMetricQuery('  {app="a"}'), false);
    assert.equal(isMetricQuery('sum(rate({app="a"}[5m]))'), true);
  });
  test('volume query wraps the whole pipeline', () => {
    assert.equal(
      volumeQuery('{app="a"} | json ', 60),
      'sum by (level, detected_level) (count_over_time({app="a"} | json | drop __error__, __error_details__ [60s]))',
    );
  });
  test('stream labels go into the selector, other fields become label filters', () => {
    assert.equal(addFilter('{app="a"} |= "x"', 'env', 'prod', true), '{app="a", env="prod"} |= "x"');
    assert.equal(addFilter('{app="}"}', 'env', 'p"q', true), '{app="}", env="p\\"q"}');
    assert.equal(addFilter('{app="a"} | json', 'user', 'bob', false), '{app="a"} | json | user="bob"');
  });
});

describe('log rules', () => {
  test('LogQL rule expressions are told from PromQL ones', () => {
    assert.equal(looksLikeLogQL('sum by (service_name) (count_over_time({service_name="payment"} |= "OOM" [10m])) > 0'), true);
    assert.equal(looksLikeLogQL('sum(rate({app="a"} | json | level="error" [5m]))'), true);
    assert.equal(looksLikeLogQL('rate({app="a"} != "x" [1m])'), true);
    assert.equal(looksLikeLogQL('e2e_queue_depth{service="checkout"} > 5'), false);
    assert.equal(looksLikeLogQL('sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 1 or vector(0)'), false);
  });
  test('the log query of a metric query stops at its range', () => {
    assert.equal(logQueryOf('sum by (s) (count_over_time({service_name="payment"} |= "OutOfMemoryError" [10m])) > 0'), '{service_name="payment"} |= "OutOfMemoryError"');
    assert.equal(logQueryOf('sum(rate({app="a"} |= "[x]" | json [5m]))'), '{app="a"} |= "[x]" | json');
    assert.equal(logQueryOf('sum(rate({app="a"} |= `\\[` [5m]))'), '{app="a"} |= `\\[`');
    assert.equal(logQueryOf('quantile_over_time(0.9, {app="a"} | logfmt | unwrap latency [5m])'), '{app="a"} | logfmt');
    assert.equal(logQueryOf('{app="a"} |= "x"'), '{app="a"} |= "x"');
  });
});

describe('stream labels and fields', () => {
  // What the server answers to {service_name="api"} | json: parsed fields and
  // structured metadata merged into the stream's label set.
  const merged: LokiStream[] = [
    {
      stream: { service_name: 'api', level: 'error', user: 'bob', status: '503', pod: 'p-1' },
      values: [['1700000000000000000', '{"user":"bob","status":503,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}']],
    },
  ];
  test('names of stream labels split the merged set', () => {
    const [row] = toRows(merged, new Set(['service_name', 'level']));
    assert.deepEqual(row?.stream, { service_name: 'api', level: 'error' });
    assert.deepEqual(row?.fields, { user: 'bob', status: '503', pod: 'p-1' });
    assert.equal(row?.level, 'error');
  });
  test('entry metadata is kept with the parsed fields', () => {
    const withMeta: LokiStream[] = [{ stream: { app: 'x', code: '7' }, values: [['1', 'line', { structuredMetadata: { pod: 'p-2' } }]] }];
    const [row] = toRows(withMeta, new Set(['app']));
    assert.deepEqual(row?.stream, { app: 'x' });
    assert.deepEqual(row?.fields, { code: '7', pod: 'p-2' });
  });
  test('without the names nothing moves', () => {
    assert.deepEqual(splitStreamLabels({ a: '1', b: '2' }, null), { stream: { a: '1', b: '2' }, fields: {} });
  });
});
