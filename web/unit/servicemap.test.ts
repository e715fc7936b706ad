import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NODE_H, NODE_W, boxesOverlap, labelSize, layoutGraph, routeEdges } from '../src/servicemap/layout';

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

/** The demo shop's call paths: four callers converge on postgres, two on cart. */
const SHOP = [
  ['gateway', 'catalog'], ['gateway', 'cart'], ['gateway', 'checkout'],
  ['checkout', 'cart'], ['checkout', 'inventory'], ['checkout', 'payment'], ['checkout', 'kafka'],
  ['catalog', 'postgres'], ['checkout', 'postgres'], ['inventory', 'postgres'], ['payment', 'postgres'],
].map(([parent, child]) => ({ parent: parent!, child: child!, callCount: 100 }));
const TWO_LINES = () => ['0.987/min · 12.5% err', 'p95 1.23 s'];

describe('routeEdges', () => {
  test('no label overlaps another label or a node', () => {
    const layout = layoutGraph(SHOP);
    const { routes } = routeEdges(layout, TWO_LINES);
    assert.equal(routes.length, SHOP.length);
    const nodes = layout.nodes.map((n) => ({ x: n.x, y: n.y, w: NODE_W, h: NODE_H }));
    for (const [i, r] of routes.entries()) {
      assert.equal(r.crowded, false, `${r.edge.from}>${r.edge.to} found no free spot`);
      assert.deepEqual({ w: r.label.w, h: r.label.h }, labelSize(TWO_LINES()));
      for (const o of routes.slice(i + 1)) assert.ok(!boxesOverlap(r.label, o.label), `labels of ${r.edge.from}>${r.edge.to} and ${o.edge.from}>${o.edge.to} overlap`);
      for (const n of nodes) assert.ok(!boxesOverlap(r.label, n), `label of ${r.edge.from}>${r.edge.to} covers a node`);
    }
  });

  test('each label sits on its own curve', () => {
    const { routes } = routeEdges(layoutGraph(SHOP), TWO_LINES);
    for (const r of routes) {
      const inside = r.points.some((p) => p.x >= r.label.x && p.x <= r.label.x + r.label.w && p.y >= r.label.y && p.y <= r.label.y + r.label.h);
      assert.ok(inside, `label of ${r.edge.from}>${r.edge.to} is off its curve`);
    }
  });

  test('calls converging on one node arrive at distinct ports on its left side', () => {
    const layout = layoutGraph(SHOP);
    const pg = layout.nodes.find((n) => n.id === 'postgres')!;
    const ends = routeEdges(layout, TWO_LINES)
      .routes.filter((r) => r.edge.to === 'postgres')
      .map((r) => r.points[r.points.length - 1]!);
    assert.equal(ends.length, 4);
    const ys = ends.map((p) => p.y).sort((a, b) => a - b);
    for (let i = 1; i < ys.length; i++) assert.ok(ys[i]! - ys[i - 1]! >= 5, `ports ${ys.join(', ')} are too close`);
    for (const p of ends) {
      assert.ok(Math.abs(p.x - pg.x) <= 2, 'the curve does not end at the left side');
      assert.ok(p.y > pg.y && p.y < pg.y + NODE_H);
    }
  });

  test('a call that skips columns passes between the nodes it crosses', () => {
    const layout = layoutGraph(SHOP);
    const r = routeEdges(layout, TWO_LINES).routes.find((x) => x.edge.from === 'catalog' && x.edge.to === 'postgres')!;
    const catalog = layout.nodes.find((n) => n.id === 'catalog')!;
    const pg = layout.nodes.find((n) => n.id === 'postgres')!;
    assert.ok(pg.column - catalog.column >= 2, 'the shop layout no longer has a column-skipping call');
    for (const n of layout.nodes) {
      if (n.id === 'catalog' || n.id === 'postgres') continue;
      const through = r.points.some((p) => p.x > n.x && p.x < n.x + NODE_W && p.y > n.y && p.y < n.y + NODE_H);
      assert.ok(!through, `catalog>postgres runs through ${n.id}`);
    }
  });

  test('the drawing grows to hold back edges and their labels; edges without labels get none', () => {
    const layout = layoutGraph([
      { parent: 'a', child: 'b', callCount: 1 },
      { parent: 'b', child: 'a', callCount: 1 },
      { parent: 'b', child: 'b', callCount: 1 },
    ]);
    const routed = routeEdges(layout, (e) => (e.from === 'b' && e.to === 'b' ? [] : ['1/s']));
    const { minX, minY } = routed;
    assert.ok(minY < 0, 'the self call loops above the top row');
    assert.ok(routed.height >= layout.height && routed.width >= layout.width);
    const inside = (x: number, y: number) => x >= minX && y >= minY && x <= minX + routed.width && y <= minY + routed.height;
    for (const r of routed.routes) {
      for (const p of r.points) assert.ok(inside(p.x, p.y), `${r.edge.from}>${r.edge.to} leaves the drawing at ${p.x},${p.y}`);
      if (r.lines.length) assert.ok(inside(r.label.x, r.label.y) && inside(r.label.x + r.label.w, r.label.y + r.label.h));
      else assert.equal(r.label.w, 0);
    }
  });
});
