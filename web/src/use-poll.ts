// The fallback beside the live channel: while the channel is down (the platform restarting, a network
// that drops WebSockets), a page that reloads on live events looks again every `offlineMs` instead. A page
// that also shows something no live topic announces (the overview's quarantine size) passes `liveMs`, a
// much slower look while the channel is up. Only while the tab is visible.
import { useEffect, useRef } from 'preact/hooks';
import { isLive } from './live.ts';

export function usePoll(reload: () => void, offlineMs: number, liveMs?: number): void {
  const last = useRef(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState !== 'visible') return;
      if (isLive() && (liveMs === undefined || Date.now() - last.current < liveMs)) return;
      last.current = Date.now();
      reload();
    }, offlineMs);
    return () => window.clearInterval(timer);
  }, [reload, offlineMs, liveMs]);
}
