// Dark and light themes. The choice lives in localStorage (index.html applies
// it before first paint) and on <html data-theme>, which the CSS reads.

import { useSyncExternalStore } from 'react';

export type Theme = 'dark' | 'light';

const KEY = 'sightline.theme';
const listeners = new Set<() => void>();

function read(): Theme {
  return document.documentElement.dataset.theme === 'light' ? 'light' : 'dark';
}

/** Switches the theme and remembers the choice. */
export function setTheme(t: Theme): void {
  document.documentElement.dataset.theme = t;
  try {
    localStorage.setItem(KEY, t);
  } catch {
    // Private mode without storage: the theme still applies to this page.
  }
  listeners.forEach((l) => l());
}

/** Returns the current theme and re-renders when it changes. */
export function useTheme(): Theme {
  return useSyncExternalStore(
    (cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    read,
  );
}

/** Reads a CSS custom property of the current theme (for canvas drawing). */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
