// Small hooks shared by pages.

import { useEffect, useState } from 'react';
import { parseDuration } from './time';

/**
 * Returns a counter that increases every `interval` (a duration such as "30s")
 * while the page is visible; '' turns auto refresh off.
 */
export function useRefreshTick(interval: string): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const sec = parseDuration(interval);
    if (!interval || !Number.isFinite(sec) || sec <= 0) return;
    const id = window.setInterval(() => {
      if (document.visibilityState === 'visible') setTick((t) => t + 1);
    }, Math.max(1, sec) * 1000);
    return () => window.clearInterval(id);
  }, [interval]);
  return tick;
}
