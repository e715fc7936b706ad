// A small router over the History API. The URL is the single source of truth
// for what a view shows (page, time range, tenant, queries), so every view is a
// shareable link. Components read it with useRoute and change it with navigate
// or setParams; nothing else holds navigation state.

import { useSyncExternalStore } from 'react';

/** Query parameters shared by all pages and kept when moving between them. */
export const GLOBAL_PARAMS = ['from', 'to', 'refresh', 'tenant'] as const;

export interface Route {
  path: string;
  params: URLSearchParams;
}

const listeners = new Set<() => void>();

function notify(): void {
  listeners.forEach((l) => l());
}

window.addEventListener('popstate', notify);

function subscribe(cb: () => void): () => void {
  listeners.add(cb);
  return () => listeners.delete(cb);
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

let cachedKey = '';
let cachedRoute: Route = { path: '/', params: new URLSearchParams() };

function parse(key: string): Route {
  if (key !== cachedKey) {
    const u = new URL(key, window.location.origin);
    cachedKey = key;
    cachedRoute = { path: u.pathname, params: u.searchParams };
  }
  return cachedRoute;
}

/** Returns the current route; the component re-renders when the URL changes. */
export function useRoute(): Route {
  const key = useSyncExternalStore(subscribe, snapshot);
  return parse(key);
}

/** Returns the current route outside React (event handlers, timers). */
export function currentRoute(): Route {
  return parse(snapshot());
}

function go(url: string, replace: boolean): void {
  if (url === snapshot()) return;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  notify();
}

/** Builds a link to path keeping the global parameters of the current URL. */
export function hrefFor(path: string, extra?: Record<string, string | string[]>): string {
  const cur = currentRoute().params;
  const p = new URLSearchParams();
  for (const k of GLOBAL_PARAMS) {
    const v = cur.get(k);
    if (v) p.set(k, v);
  }
  if (extra) {
    for (const [k, v] of Object.entries(extra)) {
      if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
      else p.set(k, v);
    }
  }
  const qs = p.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Moves to another URL (same origin), adding a history entry unless replace is set. */
export function navigate(url: string, replace = false): void {
  go(url, replace);
}

/**
 * Changes query parameters of the current URL. A value of null or '' removes
 * the parameter; an array sets repeated values. By default the change replaces
 * the history entry (typing should not flood the back button); pass push=true
 * for changes a user expects Back to undo.
 */
export function setParams(changes: Record<string, string | string[] | null>, push = false): void {
  const { path, params } = currentRoute();
  const p = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) {
    p.delete(k);
    if (v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
    else if (v !== '') p.set(k, v);
  }
  const qs = p.toString();
  go(qs ? `${path}?${qs}` : path, !push);
}

/** Handles a click on an in-app link without reloading the page. */
export function onLinkClick(e: React.MouseEvent<HTMLAnchorElement>): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = e.currentTarget.getAttribute('href');
  if (!href || !href.startsWith('/')) return;
  e.preventDefault();
  navigate(href);
}

