// Live updates: one WebSocket to the platform's event channel, speaking the AWS AppSync Events protocol
// (subprotocol `aws-appsync-event-ws`, the token in a `header-…` subprotocol, connection_init, subscribe,
// data, ka). Locally the platform serves it at /event/realtime; in the cloud an AppSync Events API does,
// authorising the same Cognito token. Events only say what changed; pages then read it from the HTTP API,
// so what they show always comes through the API's own authorisation.
import { useEffect, useRef } from 'preact/hooks';
import { portalConfig } from './config.ts';

export type Topic = 'commands' | 'meters' | 'payments' | 'accounts' | 'parking';
const topics: readonly Topic[] = ['commands', 'meters', 'payments', 'accounts', 'parking'];
/** What changed: the ids of the topic's thing (an event naming none means "reload what you show"). */
export interface LiveEvent {
  topic: Topic;
  meterId?: string | null;
  commandId?: string;
  status?: string;
  paymentId?: string;
  accountId?: string | null;
  spaceId?: string;
}

const namesSomething = (e: LiveEvent) => Boolean(e.meterId ?? e.commandId ?? e.paymentId ?? e.accountId ?? e.spaceId);

type Listener = (event: LiveEvent) => void;
const listeners = new Map<Topic, Set<Listener>>();
let socket: WebSocket | undefined;
let token: string | undefined;
let retryMs = 1_000;
let retryTimer: number | undefined;
let state: 'off' | 'connecting' | 'live' = 'off';
const stateListeners = new Set<(s: typeof state) => void>();

const setState = (next: typeof state) => {
  state = next;
  for (const l of stateListeners) l(next);
};

const base64Url = (text: string) => btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function connect(): void {
  if (!token) return;
  // config.json names the endpoint: a path on this origin locally, the AppSync Events API in the cloud
  // (whose auth header names its HTTP domain as the host).
  const live = portalConfig().live;
  const url = /^wss?:\/\//.test(live.url) ? live.url : `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${live.url}`;
  const authorization = { Authorization: token, host: live.host ?? location.host };
  setState('connecting');
  const ws = new WebSocket(url, ['aws-appsync-event-ws', `header-${base64Url(JSON.stringify(authorization))}`]);
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init' }));
  ws.onmessage = (message: MessageEvent<string>) => {
    let frame: { type?: string; event?: unknown; id?: string };
    try {
      frame = JSON.parse(message.data) as typeof frame;
    } catch {
      return;
    }
    if (frame.type === 'connection_ack') {
      for (const topic of topics) {
        ws.send(JSON.stringify({ type: 'subscribe', id: topic, channel: `/quantify/${topic}`, authorization }));
      }
    } else if (frame.type === 'subscribe_success') {
      retryMs = 1_000;
      setState('live');
    } else if (frame.type === 'data' && typeof frame.event === 'string') {
      let event: LiveEvent;
      try {
        event = JSON.parse(frame.event) as LiveEvent;
      } catch {
        return;
      }
      for (const listener of listeners.get(event.topic) ?? []) listener(event);
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = undefined;
    setState('off');
    if (!token) return;
    // Back off while the platform is away; every page reloads what it shows on reconnect.
    retryTimer = window.setTimeout(() => {
      connect();
      for (const set of listeners.values()) for (const l of set) l({ topic: 'commands' });
    }, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  };
}

/** Start (or stop, with undefined) the live channel for this signed-in token. */
export function startLive(newToken: string | undefined): void {
  token = newToken;
  window.clearTimeout(retryTimer);
  const old = socket;
  socket = undefined;
  old?.close();
  if (token) connect();
  else setState('off');
}

/** Whether the live channel is up (pages poll, slowly, only while it is not). */
export const isLive = () => state === 'live';

export function onLiveState(listener: (s: typeof state) => void): () => void {
  stateListeners.add(listener);
  listener(state);
  return () => stateListeners.delete(listener);
}

/** Call `onEvent` for the topic's events (those `accept` keeps), batched to at most one call per animation frame. */
export function useLive(topic: Topic, onEvent: () => void, accept?: (event: LiveEvent) => boolean): void {
  const latest = useRef({ onEvent, accept });
  latest.current = { onEvent, accept };
  useEffect(() => {
    let pending = false;
    const listener: Listener = (event) => {
      // An event naming nothing means "reload what you show" (too many changes to list, or a reconnect).
      if (latest.current.accept && namesSomething(event) && !latest.current.accept(event)) return;
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        latest.current.onEvent();
      });
    };
    const set = listeners.get(topic) ?? new Set<Listener>();
    listeners.set(topic, set);
    set.add(listener);
    return () => set.delete(listener);
  }, [topic]);
}
