import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completionContext } from '../src/promql/context';
import { escapeValue } from '../src/promql/completion';
import { highlight } from '../src/promql/highlight';

// `|` marks the cursor in each case.
function at(src: string) {
  const pos = src.indexOf('|');
  return completionContext(src.replace('|', ''), pos);
}

describe('completionContext', () => {
  const cases: [string, ReturnType<typeof completionContext>][] = [
    ['up|', { kind: 'metric', prefix: 'up', from: 0 }],
    ['sum(rate(http_req|', { kind: 'metric', prefix: 'http_req', from: 9 }],
    ['rate(x[5m]) / ra|', { kind: 'metric', prefix: 'ra', from: 14 }],
    ['http_requests_total{|', { kind: 'label', metric: 'http_requests_total', prefix: '', from: 20 }],
    ['http_requests_total{code="200", me|', { kind: 'label', metric: 'http_requests_total', prefix: 'me', from: 32 }],
    ['{job|', { kind: 'label', metric: '', prefix: 'job', from: 1 }],
    ['up{job="pro|', { kind: 'value', metric: 'up', label: 'job', prefix: 'pro', from: 8, quote: '"' }],
    ['up{job=~\'a|', { kind: 'value', metric: 'up', label: 'job', prefix: 'a', from: 9, quote: "'" }],
    ['up{job!="x\\"y|', { kind: 'value', metric: 'up', label: 'job', prefix: 'x\\"y', from: 9, quote: '"' }],
    ['sum by (ins|', { kind: 'label', metric: '', prefix: 'ins', from: 8 }],
    ['sum without(job, |', { kind: 'label', metric: '', prefix: '', from: 17 }],
    ['a / on(|', { kind: 'label', metric: '', prefix: '', from: 7 }],
    ['rate(x[5|', null],
    ['up{job="a"} offset 5|', null],
    ['1e3|', null],
    ['label_replace(up, "dst|', null],
    ['# comment up|', null],
    ['up{job="a"}|', null],
  ];
  for (const [src, want] of cases) {
    test(src, () => assert.deepEqual(at(src), want));
  }
  test('a closed by(...) goes back to metric names', () => {
    assert.deepEqual(at('sum by (job) (ra|'), { kind: 'metric', prefix: 'ra', from: 14 });
  });
  test('a comment ends at the line end', () => {
    assert.deepEqual(at('# note\nup|'), { kind: 'metric', prefix: 'up', from: 7 });
  });
});

describe('escapeValue', () => {
  test('escapes backslashes and the quote in use', () => {
    assert.equal(escapeValue('a"b\\c', '"'), 'a\\"b\\\\c');
    assert.equal(escapeValue("it's", "'"), "it\\'s");
    assert.equal(escapeValue('a"b', "'"), 'a"b');
  });
  test('backticks cannot be escaped inside raw strings', () => {
    assert.equal(escapeValue('a`b\\c', '`'), 'ab\\c');
  });
});

describe('highlight', () => {
  test('classes tokens', () => {
    const toks = highlight('sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 0.5 # hot');
    const classed = toks.filter((t) => t.cls !== 'text' && t.cls !== 'op').map((t) => `${t.cls}:${t.text}`);
    assert.deepEqual(classed, [
      'fn:sum',
      'kw:by',
      'label:job',
      'fn:rate',
      'metric:http_requests_total',
      'label:code',
      'str:"5.."',
      'num:5m',
      'num:0.5',
      'comment:# hot',
    ]);
  });
  test('round trips any input', () => {
    for (const s of ['', 'up{a="b\\"c', "x{y='", 'a\u0000b €', '`raw`{{}}}', '1e3 0x1F .5 1h30m']) {
      assert.equal(
        highlight(s)
          .map((t) => t.text)
          .join(''),
        s,
      );
    }
  });
});
