// The service map's drawing: call curves under the nodes, and each call's
// label (rate · errors · p95) on top, on its curve, where routeEdges found
// room for it. Hovering a curve or its label picks that call out.

import { useMemo, useState } from 'react';
import { serviceColor } from '../traces/model';
import { formatValue } from '../format';
import { LABEL_LINE_H, LABEL_PAD_Y, NODE_H, NODE_W, routeEdges, type MapEdge, type MapLayout } from './layout';
import './servicemap.css';

export interface ServiceGraphProps {
  layout: MapLayout;
  /** The selected service, or '' for none. */
  selected: string;
  onSelect: (id: string) => void;
  /** The label lines of a call (e.g. "3.4/s · 0% err", "p95 12 ms"). */
  labelOf: (e: MapEdge) => string[];
  /** The call's health class: ok, warn, bad or unknown. */
  healthOf: (e: MapEdge) => string;
}

const keyOf = (e: MapEdge) => `${e.from}>${e.to}`;

/** Draws the services and their calls; each node is a button that selects it. */
export function ServiceGraph({ layout, selected, onSelect, labelOf, healthOf }: ServiceGraphProps) {
  const routed = useMemo(() => routeEdges(layout, labelOf), [layout, labelOf]);
  const [hover, setHover] = useState('');
  const cls = (e: MapEdge) => {
    const k = keyOf(e);
    return `health-${healthOf(e)}${selected === e.from || selected === e.to ? ' active' : ''}${hover === k ? ' hover' : ''}`;
  };
  return (
    <svg
      viewBox={`${routed.minX} ${routed.minY} ${routed.width} ${routed.height}`}
      width={routed.width}
      height={routed.height}
      role="img"
      aria-label="Service map"
      className={hover ? 'map-svg hovering' : 'map-svg'}
    >
      <defs>
        {/* In user units: a bold (selected or hovered) curve keeps the same arrow head. */}
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" className="map-arrow" />
        </marker>
      </defs>
      <g className="map-wires">
        {routed.routes.map((r) => (
          <g key={keyOf(r.edge)} onMouseEnter={() => setHover(keyOf(r.edge))} onMouseLeave={() => setHover('')}>
            <path d={r.d} className={`map-wire ${cls(r.edge)}`} markerEnd="url(#arrow)" />
            <path d={r.d} className="map-wire-hit" />
          </g>
        ))}
      </g>
      {layout.nodes.map((n) => (
        <g
          key={n.id}
          className={n.id === selected ? 'map-node selected' : 'map-node'}
          transform={`translate(${n.x},${n.y})`}
          onClick={() => onSelect(n.id)}
          role="button"
          aria-label={n.id}
          data-testid="map-node"
        >
          <rect width={NODE_W} height={NODE_H} rx={8} />
          <rect width={4} height={NODE_H} rx={2} style={{ fill: serviceColor(n.id) }} />
          <text x={14} y={19} className="map-node-name">
            {n.id.length > 17 ? n.id.slice(0, 16) + '…' : n.id}
          </text>
          <text x={14} y={34} className="map-node-meta">
            {n.callsIn ? `${formatValue(n.callsIn)} in` : 'entry'}
            {n.callsOut ? ` · ${formatValue(n.callsOut)} out` : ''}
          </text>
        </g>
      ))}
      <g className="map-labels">
        {routed.routes
          .filter((r) => r.lines.length > 0)
          .map((r) => (
            <g
              key={keyOf(r.edge)}
              className={`map-edge ${cls(r.edge)}`}
              data-edge={keyOf(r.edge)}
              onMouseEnter={() => setHover(keyOf(r.edge))}
              onMouseLeave={() => setHover('')}
            >
              <title>{`${r.edge.from} → ${r.edge.to}: ${formatValue(r.edge.calls)} calls`}</title>
              <rect className="map-edge-tag" x={r.label.x} y={r.label.y} width={r.label.w} height={r.label.h} rx={4} />
              {r.lines.map((line, i) => (
                <text
                  key={i}
                  x={r.label.x + r.label.w / 2}
                  y={r.label.y + LABEL_PAD_Y + i * LABEL_LINE_H + 10}
                  textAnchor="middle"
                  className="map-edge-label"
                >
                  {line}
                </text>
              ))}
            </g>
          ))}
      </g>
    </svg>
  );
}
