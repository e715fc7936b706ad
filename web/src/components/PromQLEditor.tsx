import { useEffect, useId, useImperativeHandle, useMemo, useRef, useState, type Ref } from 'react';
import { errorMessage } from '../api';
import { completionContext, type CompletionContext } from '../promql/context';
import { escapeValue, suggest, type Suggestion } from '../promql/completion';
import { highlight } from '../promql/highlight';

interface Props {
  value: string;
  onChange: (v: string) => void;
  onRun: () => void;
  tenant: string;
  placeholder?: string;
  autoFocus?: boolean;
  label: string;
  /** Completion source; defaults to PromQL names from the Prometheus API (LogQL passes its own). */
  suggester?: (ctx: CompletionContext, tenant: string) => Promise<Suggestion[]>;
  /** Lets a parent insert text (such as a metric picked from a list) at the cursor. */
  handle?: Ref<EditorHandle>;
}

export interface EditorHandle {
  insert: (text: string) => void;
}

interface Popup {
  ctx: CompletionContext;
  items: Suggestion[];
  selected: number;
}

/**
 * A PromQL input with completion of metric names, functions, label names and
 * label values. Enter runs the query, Shift+Enter adds a line, Ctrl+Space
 * opens completion, Tab or Enter accepts a suggestion.
 */
export function PromQLEditor({
  value,
  onChange,
  onRun,
  tenant,
  placeholder,
  autoFocus,
  label,
  handle,
  suggester = suggest,
}: Props) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const lastSel = useRef<[number, number] | null>(null);

  useImperativeHandle(
    handle,
    () => ({
      insert: (text: string) => {
        const [a, b] = lastSel.current ?? [value.length, value.length];
        const next = value.slice(0, a) + text + value.slice(b);
        pendingCaret.current = a + text.length;
        onChange(next);
        ref.current?.focus();
      },
    }),
    [value, onChange],
  );
  const [popup, setPopup] = useState<Popup | null>(null);
  const [complErr, setComplErr] = useState('');
  const seq = useRef(0);
  const listId = useId();
  const pendingCaret = useRef<number | null>(null);

  useEffect(() => {
    if (pendingCaret.current !== null && ref.current) {
      ref.current.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = null;
    }
  }, [value]);

  const refresh = (text: string, pos: number, force: boolean) => {
    const ctx = completionContext(text, pos);
    const n = ++seq.current;
    if (!ctx || (!force && ctx.kind === 'metric' && ctx.prefix.length < 1)) {
      setPopup(null);
      return;
    }
    suggester(ctx, tenant).then(
      (items) => {
        if (n !== seq.current) return;
        setComplErr('');
        setPopup(items.length ? { ctx, items, selected: 0 } : null);
      },
      (err: unknown) => {
        if (n !== seq.current) return;
        setPopup(null);
        setComplErr(`Completion unavailable: ${errorMessage(err)}`);
      },
    );
  };

  const accept = (s: Suggestion) => {
    if (!popup) return;
    const el = ref.current;
    const pos = el?.selectionStart ?? value.length;
    const { ctx } = popup;
    let insert = s.text;
    let after = value.slice(pos);
    let caretShift = 0;
    if (s.kind === 'function' || s.kind === 'aggregation') {
      if (!after.startsWith('(')) {
        insert += '()';
        caretShift = -1;
      }
    } else if (s.kind === 'label' && ctx.kind === 'label' && /\{[^}]*$/.test(value.slice(0, ctx.from))) {
      if (!/^\s*(=|!=|=~|!~)/.test(after)) {
        insert += '=""';
        caretShift = -1;
      }
    } else if (s.kind === 'value' && ctx.kind === 'value') {
      insert = escapeValue(s.text, ctx.quote);
      // Replace up to the closing quote if the user had typed part of the value.
      const close = after.indexOf(ctx.quote);
      if (close >= 0 && !after.slice(0, close).includes('\n')) after = after.slice(close);
      else insert += ctx.quote;
    }
    const next = value.slice(0, ctx.from) + insert + after;
    pendingCaret.current = ctx.from + insert.length + caretShift;
    onChange(next);
    setPopup(null);
    // A label just got `=""`: offer its values right away.
    if (s.kind === 'label' && caretShift === -1) {
      window.setTimeout(() => refresh(next, ctx.from + insert.length + caretShift, true), 0);
    }
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>) => {
    if (popup) {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        setPopup({ ...popup, selected: (popup.selected + 1) % popup.items.length });
        return;
      }
      if (e.key === 'ArrowUp') {
        e.preventDefault();
        setPopup({ ...popup, selected: (popup.selected - 1 + popup.items.length) % popup.items.length });
        return;
      }
      if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey && !e.ctrlKey && !e.metaKey)) {
        const s = popup.items[popup.selected];
        if (s) {
          e.preventDefault();
          accept(s);
          return;
        }
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setPopup(null);
        return;
      }
    }
    if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      const el = e.currentTarget;
      refresh(el.value, el.selectionStart, true);
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      setPopup(null);
      onRun();
    }
  };

  const rows = Math.min(10, Math.max(1, value.split('\n').length));
  const active = popup ? `${listId}-${popup.selected}` : undefined;

  const tokens = useMemo(() => highlight(value), [value]);
  const layer = useRef<HTMLPreElement>(null);

  return (
    <div className="promql-editor">
      <div className="promql-field">
      <pre className="promql-highlight code" ref={layer} aria-hidden="true">
        {tokens.map((t, i) =>
          t.cls === 'text' ? t.text : (
            <span key={i} className={`tok-${t.cls}`}>
              {t.text}
            </span>
          ),
        )}
        {/* A trailing newline needs a character after it to take up a line. */}
        {value.endsWith('\n') ? ' ' : null}
      </pre>
      <textarea
        ref={ref}
        className="input code promql-input"
        value={value}
        rows={rows}
        placeholder={placeholder}
        spellCheck={false}
        autoCapitalize="off"
        autoComplete="off"
        autoCorrect="off"
        autoFocus={autoFocus}
        aria-label={label}
        role="combobox"
        aria-expanded={popup !== null}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={active}
        onChange={(e) => {
          onChange(e.target.value);
          refresh(e.target.value, e.target.selectionStart, false);
        }}
        onKeyDown={onKeyDown}
        onScroll={(e) => {
          if (layer.current) layer.current.scrollTop = e.currentTarget.scrollTop;
        }}
        onBlur={(e) => {
          lastSel.current = [e.currentTarget.selectionStart, e.currentTarget.selectionEnd];
          window.setTimeout(() => setPopup(null), 120);
        }}
      />
      </div>
      {popup && (
        <ul className="completion" id={listId} role="listbox">
          {popup.items.map((s, i) => (
            <li
              key={`${s.kind}:${s.text}`}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === popup.selected}
              className={i === popup.selected ? 'selected' : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(s);
              }}
              onMouseEnter={() => setPopup({ ...popup, selected: i })}
            >
              <span className={`kind kind-${s.kind}`}>{KIND_LABEL[s.kind]}</span>
              <span className="completion-text">{s.text}</span>
              <span className="completion-detail">{s.detail}</span>
            </li>
          ))}
        </ul>
      )}
      {complErr && <div className="field-error">{complErr}</div>}
    </div>
  );
}

const KIND_LABEL: Record<Suggestion['kind'], string> = {
  metric: 'M',
  function: 'f',
  aggregation: 'Σ',
  keyword: 'k',
  label: 'L',
  value: 'v',
};
