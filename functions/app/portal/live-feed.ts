// The portal's live feed: what changed since the last look, as events for the browser's channels
// (`/quantify/commands`, `/quantify/meters`). An event only says what changed (ids and the new status);
// the browser reads the thing itself through the HTTP API, under its own authorisation.
//
// It looks back a few seconds each time and remembers what it already announced, because a transaction
// can commit after a later-stamped one was read (updated_at is the writer's clock, not the commit order).
import type { Db } from '#store/db';
import { commandChangesSince, meterChangesSince } from '#store/changes';

export interface LiveEvent {
  topic: 'commands' | 'meters';
  meterId: string | null;
  commandId?: string;
  status?: string;
  deliveryState?: string | null;
}

/** How far back each look reaches beyond the newest change it has seen. */
const LOOKBACK_MS = 5_000;
const BATCH = 500;

export class LiveFeed {
  private cursor: Date;
  /** What was announced, by key, with the change time announced; pruned once behind the look-back. */
  private readonly announced = new Map<string, number>();

  constructor(
    private readonly db: Db,
    now: Date,
  ) {
    this.cursor = now;
  }

  /**
   * The changes since the last call (the first call: since the feed was made). More than a batch at once
   * (a bulk switch of the estate) is announced as one event with no meter: "reload what you show".
   */
  async poll(now: Date): Promise<LiveEvent[]> {
    const since = new Date(this.cursor.getTime() - LOOKBACK_MS);
    const [commands, meters] = await Promise.all([commandChangesSince(this.db, since, BATCH), meterChangesSince(this.db, since, BATCH)]);
    if (commands.length === BATCH || meters.length === BATCH) {
      this.cursor = now;
      this.announced.clear();
      return [
        { topic: 'commands', meterId: null },
        { topic: 'meters', meterId: null },
      ];
    }
    const events: LiveEvent[] = [];
    let newest = this.cursor.getTime();
    const fresh = (key: string, at: Date) => {
      const t = at.getTime();
      newest = Math.max(newest, t);
      if (this.announced.get(key) === t) return false;
      this.announced.set(key, t);
      return true;
    };
    for (const c of commands) {
      if (fresh(`c:${c.id}`, c.updated_at)) events.push({ topic: 'commands', meterId: c.meter_id, commandId: c.id, status: c.status, deliveryState: c.delivery_state });
    }
    for (const m of meters) {
      if (fresh(`m:${m.id}`, m.updated_at)) events.push({ topic: 'meters', meterId: m.id });
    }
    this.cursor = new Date(newest);
    const horizon = newest - 2 * LOOKBACK_MS;
    for (const [key, t] of this.announced) if (t < horizon) this.announced.delete(key);
    return events;
  }
}
