import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { autoStep, formatDuration, parseDuration, resolveRange, resolveTime } from '../src/time';

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
