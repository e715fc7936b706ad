// Links into the UI written with other tools' parameter names.

/**
 * Rewrites links made for other tools' parameter names onto this UI's:
 * Prometheus-style `g0.expr`, `g1.expr`… on /graph become `q` (in order), and
 * Loki-style `query` on /logs becomes `q`. Returns the new path and query
 * string, or null when the URL needs no change.
 */
export function canonicalLink(path: string, search: string): string | null {
  const p = new URLSearchParams(search);
  let changed = false;
  if (path === '/graph' && !p.has('q')) {
    const exprs = [...p.keys()]
      .map((k) => /^g(\d+)\.expr$/.exec(k))
      .filter((m): m is RegExpExecArray => m !== null)
      .sort((a, b) => Number(a[1]) - Number(b[1]));
    for (const m of exprs) {
      const v = p.get(m[0]) ?? '';
      if (v) p.append('q', v);
    }
    for (const k of [...p.keys()]) if (/^g\d+\./.test(k)) p.delete(k);
    changed = exprs.length > 0;
  }
  if (path === '/logs' && !p.has('q') && p.has('query')) {
    p.set('q', p.get('query') ?? '');
    p.delete('query');
    changed = true;
  }
  if (!changed) return null;
  const qs = p.toString();
  return qs ? `${path}?${qs}` : path;
}
