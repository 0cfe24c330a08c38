// Look again every few seconds while the tab is visible: for what the live channel does not announce
// (payments, parking states), beside reloading on the events it does.
import { useEffect } from 'preact/hooks';

export function usePoll(reload: () => void, everyMs: number): void {
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') reload();
    }, everyMs);
    return () => window.clearInterval(timer);
  }, [reload, everyMs]);
}
