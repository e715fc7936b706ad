import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { autoStep, formatDuration, formatTimeTick, tickSpacing, parseDuration, resolveRange, resolveTime } from '../src/time';

describe('parseDuration', () => {
  const cases: [string, number][] = [
    ['30s', 30],
    ['5m', 300],
    ['1h30m', 5400],
    ['2d', 172800],
    ['1w', 604800],
    ['250ms', 0.25],
    ['1.5h', 5400],
    ['', NaN],
    ['5', NaN],
    ['5x', NaN],
    ['m5', NaN],
    ['5m ', NaN],
  ];
  for (const [s, want] of cases) test(JSON.stringify(s), () => assert.deepEqual(parseDuration(s), want));
});

describe('formatDuration', () => {
  const cases: [number, string][] = [
    [15, '15s'],
    [60, '1m'],
    [5400, '1h30m'],
    [90061, '1d1h1m1s'],
    [0.25, '250ms'],
    [0, '0s'],
  ];
  for (const [n, want] of cases) test(String(n), () => assert.equal(formatDuration(n), want));
  test('round trips', () => {
    for (const s of ['5m', '1h30m', '2d3h', '45s']) assert.equal(formatDuration(parseDuration(s)), s);
  });
});

describe('resolveTime', () => {
  const now = 1_700_000_000;
  test('relative', () => {
    assert.equal(resolveTime('now', now), now);
    assert.equal(resolveTime('now-1h', now), now - 3600);
    assert.ok(Number.isNaN(resolveTime('now-bogus', now)));
  });
  test('unix milliseconds', () => assert.equal(resolveTime('1700000000500', now), 1_700_000_000.5));
  test('ISO 8601', () => assert.equal(resolveTime('2023-11-14T22:13:20Z', now), 1_700_000_000));
  test('garbage', () => assert.ok(Number.isNaN(resolveTime('yesterday', now))));
});

describe('resolveRange', () => {
  test('resolves', () => assert.deepEqual(resolveRange({ from: 'now-5m', to: 'now' }, 1000), { start: 700, end: 1000 }));
  test('rejects an inverted range', () => assert.throws(() => resolveRange({ from: 'now', to: 'now-5m' }, 1000), /before/));
  test('names the unreadable end', () => assert.throws(() => resolveRange({ from: 'soon', to: 'now' }, 1000), /"soon"/));
});

describe('autoStep', () => {
  const cases: [number, number][] = [
    [300, 2],
    [3600, 15],
    [6 * 3600, 120],
    [86400, 600],
    [30 * 86400, 10800],
  ];
  for (const [span, want] of cases) {
    test(`${span}s`, () => assert.equal(autoStep({ start: 0, end: span }), want));
  }
});

describe('formatTimeTick', () => {
  // Local time, as the axis shows it.
  const at = (h: number, m: number, sec: number) => new Date(2026, 10, 24, h, m, sec).getTime() / 1000;
  test('ticks seconds apart show seconds, so a one-minute range has no repeated labels', () => {
    const labels = Array.from({ length: 10 }, (_, i) => formatTimeTick(at(9, 5, 0) + i * 6, 6));
    assert.equal(labels[0], '09:05:00');
    assert.equal(labels[9], '09:05:54');
    assert.equal(new Set(labels).size, labels.length);
  });
  test('ticks whole minutes apart show HH:MM', () => {
    assert.equal(formatTimeTick(at(13, 7, 0), 300), '13:07');
  });
  test('ticks between whole minutes keep their seconds', () => {
    assert.equal(formatTimeTick(at(13, 7, 30), 90), '13:07:30');
  });
  test('ticks days apart show the date', () => {
    assert.equal(formatTimeTick(at(0, 0, 0), 86400), '11-24');
    assert.equal(formatTimeTick(at(12, 0, 0), 129600), '11-24 12:00');
  });
});

describe('tickSpacing', () => {
  test('round spacings that are whole buckets', () => {
    assert.equal(tickSpacing(1, 5.5), 10);
    assert.equal(tickSpacing(1, 5), 5);
    assert.equal(tickSpacing(30, 100), 120);
    assert.equal(tickSpacing(15, 40), 60);
    assert.equal(tickSpacing(86400, 200000), 259200);
  });
});
