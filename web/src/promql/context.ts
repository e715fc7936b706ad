// Works out what the cursor of the PromQL editor is on, so completion can
// offer the right kind of name: a metric or function, a label name inside a
// selector or a by(...) list, or a label value inside a quoted matcher.

import { LABEL_LIST_KEYWORDS } from './functions';

export type CompletionContext =
  | { kind: 'metric'; prefix: string; from: number }
  | { kind: 'label'; metric: string; prefix: string; from: number }
  | { kind: 'value'; metric: string; label: string; prefix: string; from: number; quote: string };

const IDENT_TAIL = /[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Returns the completion context at pos in text, or null when nothing applies. */
export function completionContext(text: string, pos: number): CompletionContext | null {
  const before = text.slice(0, pos);
  let quote = '';
  let quoteStart = -1;
  let braceStart = -1;
  let bracketDepth = 0;
  let commentAt = -1;
  const parens: { word: string }[] = [];
  for (let i = 0; i < before.length; i++) {
    const c = before[i];
    if (quote) {
      if (c === '\\' && quote !== '`') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '#') {
      commentAt = i;
      const nl = before.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
      commentAt = -1;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      quote = c;
      quoteStart = i;
    } else if (c === '{') braceStart = i;
    else if (c === '}') braceStart = -1;
    else if (c === '[') bracketDepth++;
    else if (c === ']') bracketDepth = Math.max(0, bracketDepth - 1);
    else if (c === '(') {
      const m = /([a-zA-Z_]+)\s*$/.exec(before.slice(0, i));
      parens.push({ word: m?.[1] ?? '' });
    } else if (c === ')') parens.pop();
  }
  if (commentAt >= 0 || bracketDepth > 0) return null;

  if (braceStart >= 0) {
    const metric = IDENT_TAIL.exec(before.slice(0, braceStart).trimEnd())?.[0] ?? '';
    if (quote) {
      const head = before.slice(braceStart + 1, quoteStart);
      const m = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$/.exec(head);
      if (!m || !m[1]) return null;
      return { kind: 'value', metric, label: m[1], prefix: before.slice(quoteStart + 1), from: quoteStart + 1, quote };
    }
    const seg = before.slice(braceStart + 1);
    const lastComma = seg.lastIndexOf(',');
    const tail = seg.slice(lastComma + 1);
    const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(tail);
    if (!m) return null;
    const prefix = m[1] ?? '';
    return { kind: 'label', metric, prefix, from: pos - prefix.length };
  }
  if (quote) return null;

  const top = parens[parens.length - 1];
  if (top && LABEL_LIST_KEYWORDS.has(top.word)) {
    const m = /(?:^|[(,\s])([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(before);
    if (!m) return null;
    const prefix = m[1] ?? '';
    return { kind: 'label', metric: '', prefix, from: pos - prefix.length };
  }

  const m = IDENT_TAIL.exec(before);
  if (!m) return null;
  const prefix = m[0];
  // A number like 5e3 or a duration inside offset is not a name.
  const prev = before[pos - prefix.length - 1];
  if (prev !== undefined && /[0-9.]/.test(prev)) return null;
  return { kind: 'metric', prefix, from: pos - prefix.length };
}
