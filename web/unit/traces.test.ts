import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JaegerSpan, JaegerTrace } from '../src/api';
import { buildTrace, formatMicros, isErrorSpan, parseTags } from '../src/traces/model';

function span(id: string, parent: string | null, start: number, duration: number, extra: Partial<JaegerSpan> = {}): JaegerSpan {
  return {
    traceID: 't1',
    spanID: id,
    operationName: `op-${id}`,
    references: parent ? [{ refType: 'CHILD_OF', traceID: 't1', spanID: parent }] : [],
    startTime: start,
    duration,
    processID: id.startsWith('db') ? 'p2' : 'p1',
    ...extra,
  };
}

function trace(spans: JaegerSpan[]): JaegerTrace {
  return {
    traceID: 't1',
    spans,
    processes: { p1: { serviceName: 'frontend' }, p2: { serviceName: 'postgres' } },
  };
}

describe('buildTrace', () => {
  // root 0..100: a 10..40, b 20..90 (b ends last), b has db1 30..80; c 95..99 after b.
  const t = trace([
    span('b', 'root', 1020, 70),
    span('root', null, 1000, 100),
    span('a', 'root', 1010, 30),
    span('db1', 'b', 1030, 50, { tags: [{ key: 'error', type: 'bool', value: true }] }),
    span('c', 'root', 1095, 4),
  ]);
  const m = buildTrace(t);

  test('orders spans depth first by start', () => {
    assert.deepEqual(
      m.rows.map((r) => `${'  '.repeat(r.depth)}${r.span.spanID}`),
      ['root', '  a', '  b', '    db1', '  c'],
    );
  });
  test('summarises the trace', () => {
    assert.equal(m.start, 1000);
    assert.equal(m.duration, 100);
    assert.equal(m.rootName, 'op-root');
    assert.equal(m.rootService, 'frontend');
    assert.deepEqual(m.services, ['frontend', 'postgres']);
    assert.equal(m.errorCount, 1);
    assert.deepEqual(
      m.rows.map((r) => r.offset),
      [0, 10, 20, 30, 95],
    );
  });
  test('marks the critical path', () => {
    const crit = m.rows.filter((r) => r.critical).map((r) => r.span.spanID);
    // c ends last; before c started, b ended last and its db call inside; a is hidden under b.
    assert.deepEqual(crit, ['root', 'b', 'db1', 'c']);
  });
  test('sequential children are all on the critical path', () => {
    const seq = buildTrace(
      trace([span('r', null, 0, 100), span('s1', 'r', 0, 30), span('s2', 'r', 35, 25), span('s3', 'r', 65, 35)]),
    );
    assert.deepEqual(
      seq.rows.filter((r) => r.critical).map((r) => r.span.spanID),
      ['r', 's1', 's2', 's3'],
    );
  });
  test('orphans and cycles do not lose spans', () => {
    const odd = buildTrace(
      trace([span('x', 'missing', 0, 5), span('y', 'z', 1, 2), span('z', 'y', 1, 2)]),
    );
    assert.deepEqual(odd.rows.map((r) => r.span.spanID).sort(), ['x', 'y', 'z']);
    assert.equal(odd.roots.length, 1);
  });
  test('an empty trace', () => {
    const e = buildTrace(trace([]));
    assert.equal(e.rows.length, 0);
    assert.equal(e.duration, 0);
  });
});

describe('helpers', () => {
  test('isErrorSpan', () => {
    assert.equal(isErrorSpan(span('a', null, 0, 1, { tags: [{ key: 'otel.status_code', type: 'string', value: 'ERROR' }] })), true);
    assert.equal(isErrorSpan(span('a', null, 0, 1, { tags: [{ key: 'error', type: 'string', value: 'false' }] })), false);
    assert.equal(isErrorSpan(span('a', null, 0, 1)), false);
  });
  test('formatMicros', () => {
    assert.equal(formatMicros(850), '850µs');
    assert.equal(formatMicros(12_345), '12.3ms');
    assert.equal(formatMicros(1_250_000), '1.25s');
    assert.equal(formatMicros(125_000_000), '2m5s');
  });
  test('parseTags', () => {
    assert.deepEqual(parseTags('http.status_code=500 error=true'), { 'http.status_code': '500', error: 'true' });
    assert.deepEqual(parseTags('msg="a b \\"c\\""'), { msg: 'a b "c"' });
    assert.deepEqual(parseTags('  '), {});
    assert.throws(() => parseTags('novalue'), /key=value/);
  });
});
