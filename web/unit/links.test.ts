import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalLink } from '../src/links';

describe('canonicalLink', () => {
  test('Prometheus graph links become q parameters in order', () => {
    assert.equal(
      canonicalLink('/graph', '?g1.expr=b&from=1&g0.expr=a%7Bx%3D%22y%22%7D+%3E+5&g0.tab=0&to=2'),
      '/graph?from=1&to=2&q=a%7Bx%3D%22y%22%7D+%3E+5&q=b',
    );
  });
  test('Loki-style query on the logs page becomes q', () => {
    assert.equal(canonicalLink('/logs', '?query=%7Ba%3D%22b%22%7D&from=1'), '/logs?from=1&q=%7Ba%3D%22b%22%7D');
  });
  test('links already in this form are left alone', () => {
    assert.equal(canonicalLink('/graph', '?q=up&g0.expr=x'), null);
    assert.equal(canonicalLink('/logs', '?q=%7Ba%3D%22b%22%7D&query=x'), null);
    assert.equal(canonicalLink('/traces', '?query=x'), null);
    assert.equal(canonicalLink('/graph', ''), null);
  });
});
