// The dispatcher's SQL: claim commands under a token and a lease, say why others were not claimed, find
// queue item ids already held, and record a dispatch's outcomes. Every transition is a conditional UPDATE
// (on status, and on the dispatcher's claim token), so a duplicate delivery or a second dispatcher never
// moves a command twice. Batches travel as ONE JSON parameter expanded with jsonb_to_recordset (the RDS
// Data API has no array parameters); text columns holding UUID-shaped values are compared as text, never
// as a UUID parameter. Timestamps are passed in (Date), so tests and the sweeper agree on "now".
import { sql } from 'kysely';
import { json, type Db, type Executor } from '#store/db';
import { isUniqueViolation } from '#store/errors';
import type { CommandStatus, CommandType, DeliveryState } from '#domain/commands';
import { finalStatuses } from './statuses.ts';

/** A command as the dispatcher claimed it, with what it needs from its device. */
export interface ClaimedCommand {
  id: string;
  device_id: string;
  device_eui: string | null;
  device_meter_no: string | null;
  command_type: CommandType;
  command_data: unknown;
  payload_hex: string | null;
  f_port: number | null;
  confirmed: boolean;
  priority: number;
  retry_count: number;
  max_retries: number;
  expires_at: Date | null;
  created_at: Date;
  dispatch_attempts: number;
  /** 'queued', or 'sent' for a command of unknown delivery claimed to look at the device queue. */
  status: CommandStatus;
  delivery_state: DeliveryState | null;
  error_message: string | null;
}

/**
 * Claim the given commands for one dispatch: open (pending/queued), due (scheduled time and backoff
 * passed), not expired, not leased to another dispatcher, and not behind an older open command for the
 * same device that is outside this batch (a device's downlinks go out in the order they were asked for).
 * A sent command whose delivery is unknown is claimed too once due (next_attempt_at), staying sent: the
 * dispatcher lists the device queue for it. Rows another dispatcher is claiming right now are skipped,
 * not waited for.
 */
export async function claimCommands(db: Executor, ids: readonly string[], token: string, now: Date, leaseUntil: Date): Promise<ClaimedCommand[]> {
  // Open is spelled "not final" on purpose: that cannot match the partial indexes of all open commands,
  // so the planner looks each command up by id and its device's older commands by device_commands_device_idx,
  // even on PGlite, whose tables are never analysed (no autovacuum) and whose plans must not depend on it.
  const result = await sql<ClaimedCommand>`
    WITH input AS (
      SELECT DISTINCT (value)::uuid AS id FROM jsonb_array_elements_text(${json(ids)})
    ), claimable AS (
      SELECT c.id FROM input i JOIN device_commands c ON c.id = i.id
      WHERE c.status NOT IN ${finalStatuses}
        AND (c.status <> 'sent' OR c.delivery_state = 'unknown')
        AND (c.scheduled_at IS NULL OR c.scheduled_at <= ${now})
        AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= ${now})
        AND (c.claimed_until IS NULL OR c.claimed_until < ${now})
        AND (c.expires_at IS NULL OR c.expires_at > ${now})
        AND NOT EXISTS (
          SELECT 1 FROM device_commands o
          WHERE o.device_id = c.device_id
            AND o.created_at <= c.created_at
            AND (o.created_at, o.id) < (c.created_at, c.id)
            AND o.status NOT IN ${finalStatuses}
            AND o.status <> 'sent'
            AND (o.scheduled_at IS NULL OR o.scheduled_at <= ${now})
            AND NOT EXISTS (SELECT 1 FROM input x WHERE x.id = o.id))
      FOR UPDATE OF c SKIP LOCKED
    )
    UPDATE device_commands c
    SET claim_token = ${token}, claimed_until = ${leaseUntil}, dispatch_attempts = c.dispatch_attempts + 1,
        status = CASE WHEN c.status = 'sent' THEN 'sent' ELSE 'queued' END, queued_at = COALESCE(c.queued_at, ${now}), updated_at = ${now}
    FROM claimable k, devices d
    WHERE c.id = k.id AND d.id = c.device_id
    RETURNING c.id, c.device_id, COALESCE(c.device_eui, d.dev_eui) AS device_eui, d.meter_no AS device_meter_no,
              c.command_type, c.command_data, c.payload_hex, c.f_port, c.confirmed, c.priority, c.retry_count,
              c.max_retries, c.expires_at, c.created_at, c.dispatch_attempts, c.status, c.delivery_state, c.error_message`.execute(db);
  return result.rows;
}

export interface UnclaimedState {
  id: string;
  status: CommandStatus;
  scheduled_at: Date | null;
  next_attempt_at: Date | null;
  claimed_until: Date | null;
  expires_at: Date | null;
  /** When the latest older open command for the same device is due, if one holds this one back. */
  blocked_until: Date | null;
}

/** Why commands were not claimed: their state, and when an older command of the same device is due. */
export async function unclaimedState(db: Executor, ids: readonly string[]): Promise<UnclaimedState[]> {
  if (!ids.length) return [];
  const result = await sql<UnclaimedState>`
    SELECT c.id, c.status, c.scheduled_at, c.next_attempt_at, c.claimed_until, c.expires_at,
           (SELECT max(GREATEST(o.scheduled_at, o.next_attempt_at, o.claimed_until))
              FROM device_commands o
             WHERE o.device_id = c.device_id AND o.status NOT IN ${finalStatuses} AND o.status <> 'sent'
               AND o.created_at <= c.created_at AND (o.created_at, o.id) < (c.created_at, c.id)) AS blocked_until
    FROM (SELECT DISTINCT (value)::uuid AS id FROM jsonb_array_elements_text(${json(ids)})) i
    JOIN device_commands c ON c.id = i.id`.execute(db);
  return result.rows;
}

/** Queue item ids among `ids` that some command already holds (so they are not adopted twice). */
export async function heldQueueItemIds(db: Executor, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const result = await sql<{ id: string }>`
    SELECT network_queue_item_id AS id FROM device_commands
    WHERE network_queue_item_id IN (SELECT value FROM jsonb_array_elements_text(${json(ids)}))`.execute(db);
  return new Set(result.rows.map((r) => r.id));
}

/**
 * Release on settle: the open (pending/queued), due, unexpired and unleased commands of these devices,
 * oldest first, at most `limit`. claimCommands still holds back any that an older command outside them
 * precedes, so a device's order is kept.
 */
export async function nextDueCommands(db: Executor, deviceIds: readonly string[], now: Date, limit: number): Promise<string[]> {
  if (!deviceIds.length) return [];
  const result = await sql<{ id: string }>`
    SELECT c.id FROM (SELECT DISTINCT (value)::uuid AS device_id FROM jsonb_array_elements_text(${json(deviceIds)})) d
    JOIN device_commands c ON c.device_id = d.device_id
    WHERE c.status NOT IN ${finalStatuses}
      AND c.status <> 'sent'
      AND (c.scheduled_at IS NULL OR c.scheduled_at <= ${now})
      AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= ${now})
      AND (c.claimed_until IS NULL OR c.claimed_until < ${now})
      AND (c.expires_at IS NULL OR c.expires_at > ${now})
    ORDER BY c.created_at, c.id
    LIMIT ${limit}`.execute(db);
  return result.rows.map((r) => r.id);
}

export type DispatchOutcome =
  /** `sent_at`: when the send that succeeded began (`at`: when its answer came); an adopted command of unknown delivery keeps its earlier sent_at. */
  | { id: string; outcome: 'sent'; at: string; sent_at: string; queue_item_id: string | null; delivery_state: DeliveryState }
  /** `unknown_delivery`: this or an earlier attempt may have reached the network server (delivery_state 'unknown'; cleared otherwise). */
  | { id: string; outcome: 'retry'; at: string; retry_count: number; next_attempt_at: string; error: string; unknown_delivery: boolean }
  /**
   * The last attempt's outcome is unknown: the command is recorded sent with delivery_state 'unknown'
   * (sent_at when the attempt began), never failed, and its device queue is listed at `next_attempt_at`.
   */
  | { id: string; outcome: 'unknown'; at: string; sent_at: string; retry_count: number; next_attempt_at: string; error: string }
  | { id: string; outcome: 'failed'; at: string; retry_count: number; error: string }
  /** Claimed but not attempted (an older command of its device is backing off): hand the claim back. */
  | { id: string; outcome: 'released'; at: string };

export interface RecordedOutcome {
  id: string;
  /**
   * The command was sent with a queue item id another command holds (or another command of the same
   * dispatch was sent with): it is not recorded as sent but handed back, due now, with its attempt still
   * counted, so the next attempt looks at the device's queue again and enqueues its own item if need be.
   */
  contested: boolean;
  /**
   * The command was settled (sent, failed, or sent of unknown delivery) and its device has another open
   * command that is due and not leased: release on settle dispatches it now. Absent otherwise.
   */
  release?: true;
}

/** How often a record is tried again after a unique violation (a concurrent write of the same queue item id). */
const RECORD_ATTEMPTS = 3;

/**
 * Record a dispatch's outcomes in one statement, only where this dispatcher still holds the claim, and
 * mirror them on the display actuations audit trail. Returns the commands recorded.
 *
 * network_queue_item_id is unique, and one clash must not fail the whole statement (the chunk was sent:
 * leaving it unrecorded would leave every command claimed until its lease ran out, then send it again).
 * So the statement itself hands back a 'sent' whose queue item id is held by another command, or
 * repeated in this batch (the earliest send keeps it); a clash it could not see (another dispatcher
 * writing the same id at the same moment) fails the statement with a unique violation, and the retry
 * then sees the other write and hands that command back.
 */
export async function recordOutcomes(db: Db, token: string, outcomes: readonly DispatchOutcome[]): Promise<RecordedOutcome[]> {
  if (!outcomes.length) return [];
  for (let attempt = 1; ; attempt++) {
    try {
      return await recordOutcomesOnce(db, token, outcomes);
    } catch (error) {
      if (!isUniqueViolation(error) || attempt >= RECORD_ATTEMPTS) throw error;
    }
  }
}

async function recordOutcomesOnce(db: Executor, token: string, outcomes: readonly DispatchOutcome[]): Promise<RecordedOutcome[]> {
  const rows = outcomes.map((o) => ({
    id: o.id,
    outcome: o.outcome,
    at: o.at,
    sent_at: o.outcome === 'sent' || o.outcome === 'unknown' ? o.sent_at : null,
    queue_item_id: o.outcome === 'sent' ? o.queue_item_id : null,
    delivery_state: o.outcome === 'sent' ? o.delivery_state : o.outcome === 'unknown' || (o.outcome === 'retry' && o.unknown_delivery) ? 'unknown' : null,
    retry_count: o.outcome === 'retry' || o.outcome === 'failed' || o.outcome === 'unknown' ? o.retry_count : null,
    next_attempt_at: o.outcome === 'retry' || o.outcome === 'unknown' ? o.next_attempt_at : null,
    error: o.outcome === 'retry' || o.outcome === 'failed' || o.outcome === 'unknown' ? o.error : null,
  }));
  const result = await sql<{ id: string; contested: boolean; release: boolean }>`
    WITH given AS (
      SELECT * FROM jsonb_to_recordset(${json(rows)}) AS g(
        id uuid, outcome text, at timestamptz, sent_at timestamptz, queue_item_id text, delivery_state text,
        retry_count integer, next_attempt_at timestamptz, error text)
    ), r AS (
      SELECT g.id, g.at, g.sent_at, g.queue_item_id, g.delivery_state, g.retry_count, g.next_attempt_at, g.error,
             CASE WHEN g.outcome = 'sent' AND g.queue_item_id IS NOT NULL AND (
                    row_number() OVER (PARTITION BY g.queue_item_id ORDER BY g.sent_at, g.id) > 1
                    OR EXISTS (SELECT 1 FROM device_commands o WHERE o.network_queue_item_id = g.queue_item_id AND o.id <> g.id))
                  THEN 'contested' ELSE g.outcome END AS outcome
      FROM given g
    ), upd AS (
      UPDATE device_commands c
      SET status = CASE r.outcome WHEN 'sent' THEN 'sent' WHEN 'unknown' THEN 'sent' WHEN 'failed' THEN 'failed' ELSE c.status END,
          -- A command of unknown delivery went out when its last attempt began, whatever a later look finds.
          sent_at = CASE WHEN r.outcome IN ('sent', 'unknown') AND c.status = 'sent' THEN COALESCE(c.sent_at, r.sent_at)
                         WHEN r.outcome IN ('sent', 'unknown') THEN r.sent_at ELSE c.sent_at END,
          network_queue_item_id = CASE WHEN r.outcome = 'sent' THEN r.queue_item_id ELSE c.network_queue_item_id END,
          delivery_state = CASE WHEN r.outcome IN ('sent', 'unknown') THEN r.delivery_state
                                WHEN r.outcome = 'retry' THEN r.delivery_state
                                ELSE c.delivery_state END,
          failed_at = CASE WHEN r.outcome = 'failed' THEN r.at ELSE c.failed_at END,
          retry_count = COALESCE(r.retry_count, c.retry_count),
          next_attempt_at = CASE r.outcome WHEN 'retry' THEN r.next_attempt_at WHEN 'unknown' THEN r.next_attempt_at WHEN 'sent' THEN NULL WHEN 'contested' THEN NULL ELSE c.next_attempt_at END,
          error_message = CASE
            WHEN r.outcome IN ('retry', 'failed', 'unknown') THEN r.error
            WHEN r.outcome = 'sent' THEN NULL
            WHEN r.outcome = 'contested' THEN 'ChirpStack queue item ' || r.queue_item_id || ' belongs to another command; the device queue is checked again'
            ELSE c.error_message END,
          -- A released command was not attempted: its claim should not count as an attempt of unknown outcome.
          dispatch_attempts = CASE WHEN r.outcome = 'released' THEN GREATEST(c.dispatch_attempts - 1, 0) ELSE c.dispatch_attempts END,
          claim_token = NULL,
          claimed_until = NULL,
          updated_at = r.at
      FROM r
      WHERE c.id = r.id AND c.claim_token = ${token}
      RETURNING c.id, c.device_id, c.status, c.delivery_state, c.sent_at, c.retry_count, c.error_message, c.updated_at, r.outcome = 'contested' AS contested
    ), _act AS (
      UPDATE actuations a
      SET downlink_sent = a.downlink_sent OR (upd.status = 'sent' AND upd.delivery_state IS DISTINCT FROM 'unknown'),
          sent_at = COALESCE(upd.sent_at, a.sent_at),
          retry_count = upd.retry_count,
          downlink_error = upd.error_message
      FROM upd
      WHERE a.command_id = upd.id
      RETURNING 1
    )
    -- The statement's snapshot shows this chunk's commands still leased, so only others can be waiting.
    SELECT upd.id, upd.contested,
           (NOT upd.contested AND upd.status IN ('sent', 'failed') AND EXISTS (
              SELECT 1 FROM device_commands o
              WHERE o.device_id = upd.device_id AND o.id <> upd.id
                AND o.status NOT IN ${finalStatuses} AND o.status <> 'sent'
                AND (o.scheduled_at IS NULL OR o.scheduled_at <= upd.updated_at)
                AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= upd.updated_at)
                AND (o.claimed_until IS NULL OR o.claimed_until < upd.updated_at))) AS release
    FROM upd`.execute(db);
  return result.rows.map((r) => ({ id: r.id, contested: r.contested, ...(r.release ? { release: true as const } : {}) }));
}

