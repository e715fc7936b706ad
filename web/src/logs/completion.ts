// Completion candidates for the LogQL editor: stream labels and values from
// the Loki API (cached per tenant), and LogQL's own words outside selectors.

import { lokiLabelValues, lokiLabels } from '../api';
import type { CompletionContext } from '../promql/context';
import type { Suggestion } from '../promql/completion';

const WORDS: [string, Suggestion['kind'], string][] = [
  ...['json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format', 'drop', 'keep', 'unwrap', 'decolorize'].map(
    (w): [string, Suggestion['kind'], string] => [w, 'keyword', 'pipeline stage'],
  ),
  ...[
    'count_over_time',
    'rate',
    'bytes_over_time',
    'bytes_rate',
    'absent_over_time',
    'sum_over_time',
    'avg_over_time',
    'max_over_time',
    'min_over_time',
    'first_over_time',
    'last_over_time',
    'stdvar_over_time',
    'stddev_over_time',
    'quantile_over_time',
    'rate_counter',
  ].map((w): [string, Suggestion['kind'], string] => [w, 'function', 'range aggregation']),
  ...['sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'stddev', 'stdvar', 'sort', 'sort_desc'].map(
    (w): [string, Suggestion['kind'], string] => [w, 'aggregation', 'aggregation'],
  ),
  ...['by', 'without', 'offset', 'and', 'or', 'unless'].map((w): [string, Suggestion['kind'], string] => [w, 'keyword', 'keyword']),
];

const labelCache = new Map<string, Promise<string[]>>();
const valueCache = new Map<string, Promise<string[]>>();

function remember(map: Map<string, Promise<string[]>>, key: string, load: () => Promise<string[]>): Promise<string[]> {
  let p = map.get(key);
  if (!p) {
    p = load();
    map.set(key, p);
    p.catch(() => map.delete(key));
  }
  return p;
}

function rank(list: Suggestion[], prefix: string): Suggestion[] {
  const p = prefix.toLowerCase();
  const starts = list.filter((s) => s.text.toLowerCase().startsWith(p) && s.text.toLowerCase() !== p);
  const contains = p.length >= 2 ? list.filter((s) => !s.text.toLowerCase().startsWith(p) && s.text.toLowerCase().includes(p)) : [];
  return [...starts, ...contains].slice(0, 60);
}

/** Suggests LogQL completions for the context at the cursor. */
export async function suggestLogQL(ctx: CompletionContext, tenant: string): Promise<Suggestion[]> {
  switch (ctx.kind) {
    case 'metric':
      return rank(
        WORDS.map(([text, kind, detail]) => ({ text, kind, detail })),
        ctx.prefix,
      );
    case 'label': {
      const names = await remember(labelCache, tenant, () => lokiLabels());
      return rank(
        names.map((n) => ({ text: n, kind: 'label' as const, detail: 'stream label' })),
        ctx.prefix,
      );
    }
    case 'value': {
      const values = await remember(valueCache, `${tenant}\u0000${ctx.label}`, () => lokiLabelValues(ctx.label));
      return rank(
        values.map((v) => ({ text: v, kind: 'value' as const, detail: ctx.label })),
        ctx.prefix,
      );
    }
  }
}
