import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { layoutGraph } from '../src/servicemap/layout';

describe('layoutGraph', () => {
  test('columns follow the longest call chain', () => {
    const l = layoutGraph([
      { parent: 'frontend', child: 'checkout', callCount: 10 },
      { parent: 'checkout', child: 'payment', callCount: 4 },
      { parent: 'frontend', child: 'payment', callCount: 1 },
      { parent: 'payment', child: 'postgres', callCount: 4 },
      { parent: 'frontend', child: 'checkout', callCount: 5 },
    ]);
    const col = Object.fromEntries(l.nodes.map((n) => [n.id, n.column]));
    assert.deepEqual(col, { frontend: 0, checkout: 1, payment: 2, postgres: 3 });
    const fc = l.edges.find((e) => e.from === 'frontend' && e.to === 'checkout');
    assert.equal(fc?.calls, 15, 'duplicate pairs are summed');
    assert.ok(l.edges.every((e) => !e.back));
    const checkout = l.nodes.find((n) => n.id === 'checkout');
    assert.equal(checkout?.callsIn, 15);
    assert.equal(checkout?.callsOut, 4);
  });
  test('cycles and self calls terminate and are marked as back edges', () => {
    const l = layoutGraph([
      { parent: 'a', child: 'b', callCount: 1 },
      { parent: 'b', child: 'c', callCount: 1 },
      { parent: 'c', child: 'a', callCount: 1 },
      { parent: 'b', child: 'b', callCount: 2 },
    ]);
    assert.equal(l.nodes.length, 3);
    assert.deepEqual(
      l.edges.filter((e) => e.back).map((e) => `${e.from}>${e.to}`).sort(),
      ['b>b', 'c>a'],
    );
  });
  test('nodes in a column do not overlap', () => {
    const l = layoutGraph(['x', 'y', 'z', 'w'].map((c) => ({ parent: 'gw', child: c, callCount: 1 })));
    const ys = l.nodes.filter((n) => n.column === 1).map((n) => n.y).sort((a, b) => a - b);
    for (let i = 1; i < ys.length; i++) assert.ok(ys[i]! - ys[i - 1]! >= 44);
    assert.ok(l.height >= ys[ys.length - 1]! + 44);
  });
  test('empty input', () => {
    const l = layoutGraph([]);
    assert.equal(l.nodes.length, 0);
    assert.equal(l.edges.length, 0);
  });
});
