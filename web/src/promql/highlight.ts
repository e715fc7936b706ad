// Splits PromQL text into classed tokens for the editor's highlighting layer.
// It is a lexer, not a parser: good enough to colour names, strings, numbers
// and keywords; the server remains the judge of what is valid.

import { AGGREGATIONS, FUNCTIONS, KEYWORDS, LABEL_LIST_KEYWORDS } from './functions';

export type TokenClass = 'str' | 'num' | 'comment' | 'fn' | 'kw' | 'label' | 'metric' | 'op' | 'text';

export interface Token {
  text: string;
  cls: TokenClass;
}

const FN = new Set(FUNCTIONS.map((f) => f.name));
const AGG = new Set(AGGREGATIONS);
const KW = new Set(KEYWORDS);

const RULES: [RegExp, TokenClass | 'ident'][] = [
  [/^#[^\n]*/, 'comment'],
  [/^"(?:[^"\\\n]|\\.)*"?/, 'str'],
  [/^'(?:[^'\\\n]|\\.)*'?/, 'str'],
  [/^`[^`]*`?/, 'str'],
  [/^(?:\d+(?:ms|s|m|h|d|w|y))+/, 'num'],
  [/^(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/, 'num'],
  [/^[a-zA-Z_:][a-zA-Z0-9_:]*/, 'ident'],
  [/^(?:=~|!~|!=|==|<=|>=|[-+*/%^<>=,()[\]{}@])/, 'op'],
  [/^\s+/, 'text'],
];

/** Tokenises PromQL; concatenating the token texts gives back the input. */
export function highlight(src: string): Token[] {
  const out: Token[] = [];
  let rest = src;
  let braceDepth = 0;
  // One entry per open parenthesis: true when it holds a by(...)-style label list.
  const parens: boolean[] = [];
  let labelListNext = false;
  while (rest.length > 0) {
    let matched = false;
    for (const [re, cls] of RULES) {
      const m = re.exec(rest);
      if (!m || m[0].length === 0) continue;
      const text = m[0];
      let c: TokenClass;
      if (cls === 'ident') {
        const next = rest.slice(text.length).trimStart();
        if (braceDepth > 0 || parens[parens.length - 1] === true) c = 'label';
        else if (FN.has(text) || AGG.has(text)) c = next.startsWith('(') || AGG.has(text) ? 'fn' : 'metric';
        else if (KW.has(text.toLowerCase()) || text === 'inf' || text === 'nan') c = 'kw';
        else c = 'metric';
      } else c = cls;
      if (text === '{') braceDepth++;
      else if (text === '}') braceDepth = Math.max(0, braceDepth - 1);
      else if (text === '(') parens.push(labelListNext);
      else if (text === ')') parens.pop();
      if (c !== 'text' && c !== 'comment') labelListNext = c === 'kw' && LABEL_LIST_KEYWORDS.has(text.toLowerCase());
      out.push({ text, cls: c });
      rest = rest.slice(text.length);
      matched = true;
      break;
    }
    if (!matched) {
      out.push({ text: rest[0] ?? '', cls: 'text' });
      rest = rest.slice(1);
    }
  }
  return out;
}
