// The portal's live events port: where the live feed's events (functions/app/portal/live-feed.ts) go.
// Locally the platform's /event/realtime channel is the sink (its poller reads the feed every second); in
// the cloud an AppSync Events API is (functions/adapters/appsync-events.ts), and every Lambda that changes
// what the portal shows announces, after its work, what changed while it ran. Code here knows neither.
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import { LiveFeed, type LiveEvent, type LiveTopic } from './live-feed.ts';

export type { LiveEvent };

/** The channel of each topic (the same on the local endpoint and in the cloud, one AppSync namespace). */
export const liveChannelOf: Record<LiveTopic, string> = {
  commands: '/quantify/commands',
  meters: '/quantify/meters',
  payments: '/quantify/payments',
  accounts: '/quantify/accounts',
  parking: '/quantify/parking',
};
export const liveChannels: readonly string[] = Object.values(liveChannelOf);

export interface LiveEventSink {
  publish(events: readonly LiveEvent[]): Promise<void>;
}

export interface AnnounceDeps {
  db: Db;
  live: LiveEventSink | undefined;
  logger: Logger;
  now: () => Date;
}

/**
 * Wraps a handler so that, after it ran, the changes made while it ran (and in the feed's few seconds of
 * look-back) are published. A failed announcement is logged, never thrown: the portal is a view, and a
 * batch must not be redone because a browser could not be told about it. Without a sink, it is the handler.
 */
export function withLiveAnnouncements<A extends unknown[], R>(deps: AnnounceDeps, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  const { live } = deps;
  if (!live) return handler;
  return async (...args: A) => {
    const feed = new LiveFeed(deps.db, deps.now());
    const result = await handler(...args);
    try {
      const events = await feed.poll(deps.now());
      if (events.length > 0) await live.publish(events);
    } catch (error) {
      deps.logger.warn('live events not published', { error: error instanceof Error ? error.message : String(error) });
    }
    return result;
  };
}
