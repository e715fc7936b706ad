// Completion candidates for the PromQL editor. Names come from the server's
// label APIs and are cached per tenant for the life of the page; PromQL's own
// functions and keywords come from functions.ts.

import { labelNames, labelValues, metadata, type MetricMetadata } from '../api';
import { AGGREGATIONS, FUNCTIONS, KEYWORDS } from './functions';
import type { CompletionContext } from './context';

export type SuggestionKind = 'metric' | 'function' | 'aggregation' | 'keyword' | 'label' | 'value';

export interface Suggestion {
  text: string;
  kind: SuggestionKind;
  detail: string;
}

const MAX_SUGGESTIONS = 60;

interface Cache {
  metrics?: Promise<string[]>;
  meta?: Promise<Record<string, MetricMetadata[]>>;
  labels: Map<string, Promise<string[]>>;
  values: Map<string, Promise<string[]>>;
}

const caches = new Map<string, Cache>();

function cacheFor(tenant: string): Cache {
  let c = caches.get(tenant);
  if (!c) {
    c = { labels: new Map(), values: new Map() };
    caches.set(tenant, c);
  }
  return c;
}

/** Forgets cached names so the next completion asks the server again. */
export function clearCompletionCache(): void {
  caches.clear();
}

// Cached promises must not be tied to one caller's AbortSignal, and a failed
// lookup must not stay cached: the next keystroke retries.
function remember<K>(map: Map<K, Promise<string[]>>, key: K, load: () => Promise<string[]>): Promise<string[]> {
  let p = map.get(key);
  if (!p) {
    p = load();
    map.set(key, p);
    p.catch(() => map.delete(key));
  }
  return p;
}

function metricNames(c: Cache): Promise<string[]> {
  if (!c.metrics) {
    const p = labelValues('__name__', []);
    c.metrics = p;
    p.catch(() => {
      if (c.metrics === p) c.metrics = undefined;
    });
  }
  return c.metrics;
}

async function metricMeta(c: Cache): Promise<Record<string, MetricMetadata[]>> {
  if (!c.meta) {
    // Metadata only adds descriptions; a server without it still completes names.
    c.meta = metadata().catch(() => ({}));
  }
  return c.meta;
}

function rank(candidates: Suggestion[], prefix: string): Suggestion[] {
  const p = prefix.toLowerCase();
  const starts: Suggestion[] = [];
  const contains: Suggestion[] = [];
  let exact = false;
  for (const s of candidates) {
    const t = s.text.toLowerCase();
    if (t === p) {
      exact = true;
      continue;
    }
    if (t.startsWith(p)) starts.push(s);
    else if (p.length >= 2 && t.includes(p)) contains.push(s);
  }
  // A complete name needs no help finding names that merely contain it.
  return (exact ? starts : [...starts, ...contains]).slice(0, MAX_SUGGESTIONS);
}

/** Returns the suggestions for a context; rejects with the server's error. */
export async function suggest(ctx: CompletionContext, tenant: string): Promise<Suggestion[]> {
  const c = cacheFor(tenant);
  switch (ctx.kind) {
    case 'metric': {
      const [names, meta] = await Promise.all([metricNames(c), metricMeta(c)]);
      const list: Suggestion[] = [];
      for (const a of AGGREGATIONS) list.push({ text: a, kind: 'aggregation', detail: 'aggregation' });
      for (const f of FUNCTIONS) list.push({ text: f.name, kind: 'function', detail: `(${f.args})` });
      for (const k of KEYWORDS) list.push({ text: k, kind: 'keyword', detail: 'keyword' });
      for (const n of names) {
        const m = meta[n]?.[0];
        list.push({ text: n, kind: 'metric', detail: m ? `${m.type}${m.help ? ' · ' + m.help : ''}` : '' });
      }
      // Metric names first when the prefix matches both.
      const order: Record<SuggestionKind, number> = { metric: 0, aggregation: 1, function: 2, keyword: 3, label: 4, value: 5 };
      const ranked = rank(list, ctx.prefix);
      return ranked.sort((x, y) => {
        const px = x.text.toLowerCase().startsWith(ctx.prefix.toLowerCase()) ? 0 : 1;
        const py = y.text.toLowerCase().startsWith(ctx.prefix.toLowerCase()) ? 0 : 1;
        return px - py || order[x.kind] - order[y.kind] || x.text.localeCompare(y.text);
      });
    }
    case 'label': {
      const names = await remember(c.labels, ctx.metric, () => labelNames(ctx.metric ? [ctx.metric] : []));
      return rank(
        names.filter((n) => n !== '__name__').map((n) => ({ text: n, kind: 'label' as const, detail: 'label' })),
        ctx.prefix,
      );
    }
    case 'value': {
      const key = `${ctx.metric}\u0000${ctx.label}`;
      const values = await remember(c.values, key, () => labelValues(ctx.label, ctx.metric ? [ctx.metric] : []));
      return rank(
        values.map((v) => ({ text: v, kind: 'value' as const, detail: ctx.label })),
        ctx.prefix,
      );
    }
  }
}

/** Escapes a label value for the quote it is typed inside. */
export function escapeValue(v: string, quote: string): string {
  if (quote === '`') return v.replace(/`/g, '');
  return v.replace(/\\/g, '\\\\').replace(new RegExp(quote, 'g'), '\\' + quote);
}
