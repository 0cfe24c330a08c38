// The portal's live feed: what changed since the last look, as events for the browser's channels
// (`/quantify/commands`, `/quantify/meters`, `/quantify/payments`, `/quantify/accounts`, `/quantify/parking`).
// An event only says what changed (ids and the new status); the browser reads the thing itself through the
// HTTP API, under its own authorisation. An event naming nothing (no id) means "reload what you show".
//
// It looks back a few seconds each time and remembers what it already announced, because a transaction
// can commit after a later-stamped one was read (updated_at is the writer's clock, not the commit order).
import type { Db } from '#store/db';
import { accountChangesSince, commandChangesSince, meterChangesSince, parkingChangesSince, paymentChangesSince } from '#store/changes';

export type LiveTopic = 'commands' | 'meters' | 'payments' | 'accounts' | 'parking';
export const liveTopics: readonly LiveTopic[] = ['commands', 'meters', 'payments', 'accounts', 'parking'];

/**
 * commands: meterId, commandId, status, deliveryState · meters: meterId · payments: paymentId, accountId,
 * status · accounts: accountId (its balance moved) · parking: spaceId, status (the space's current state).
 */
export interface LiveEvent {
  topic: LiveTopic;
  meterId?: string | null;
  commandId?: string;
  status?: string;
  deliveryState?: string | null;
  paymentId?: string;
  accountId?: string | null;
  spaceId?: string;
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
    const [commands, meters, payments, accounts, spaces] = await Promise.all([
      commandChangesSince(this.db, since, BATCH),
      meterChangesSince(this.db, since, BATCH),
      paymentChangesSince(this.db, since, BATCH),
      accountChangesSince(this.db, since, BATCH),
      parkingChangesSince(this.db, since, BATCH),
    ]);
    if ([commands, meters, payments, accounts, spaces].some((rows) => rows.length === BATCH)) {
      this.cursor = now;
      this.announced.clear();
      return [
        { topic: 'commands', meterId: null },
        { topic: 'meters', meterId: null },
        { topic: 'payments' },
        { topic: 'accounts' },
        { topic: 'parking' },
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
    for (const p of payments) {
      if (fresh(`p:${p.id}`, p.updated_at)) events.push({ topic: 'payments', paymentId: p.id, accountId: p.account_id, status: p.status });
    }
    for (const a of accounts) {
      if (fresh(`a:${a.id}`, a.updated_at)) events.push({ topic: 'accounts', accountId: a.id });
    }
    for (const s of spaces) {
      if (fresh(`s:${s.id}`, s.updated_at)) events.push({ topic: 'parking', spaceId: s.id, status: s.current_state });
    }
    this.cursor = new Date(newest);
    const horizon = newest - 2 * LOOKBACK_MS;
    for (const [key, t] of this.announced) if (t < horizon) this.announced.delete(key);
    return events;
  }
}
