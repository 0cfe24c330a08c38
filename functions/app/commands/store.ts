// The command system's SQL. Every transition is a conditional UPDATE (on status, and for a dispatcher on
// its claim token), so a duplicate delivery, a second dispatcher or a late event never moves a command
// twice. Batches travel as ONE JSON parameter expanded with jsonb_to_recordset (the RDS Data API has no
// array parameters); text columns holding UUID-shaped values are compared as text, never as a UUID
// parameter. Timestamps are passed in (Date), so tests and the sweeper agree on "now".
import { sql } from 'kysely';
import type { Db } from '#store/db';
import { isUniqueViolation } from '#store/errors';
import { commandStatuses, isTerminal, type CommandStatus, type CommandType, type DeliveryState } from '#domain/commands';

const json = (value: unknown) => sql`CAST(${JSON.stringify(value)} AS jsonb)`;
/** Final statuses as a literal list, from the domain's transition table (see claimCommands for why). */
const finalStatuses = sql.raw(`(${commandStatuses.filter(isTerminal).map((s) => `'${s}'`).join(', ')})`);

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
}

/**
 * Claim the given commands for one dispatch: open (pending/queued), due (scheduled time and backoff
 * passed), not expired, not leased to another dispatcher, and not behind an older open command for the
 * same device that is outside this batch (a device's downlinks go out in the order they were asked for).
 * Rows another dispatcher is claiming right now are skipped, not waited for.
 */
export async function claimCommands(db: Db, ids: readonly string[], token: string, now: Date, leaseUntil: Date): Promise<ClaimedCommand[]> {
  // Open is spelled "not final" on purpose: that cannot match the partial indexes of all open commands,
  // so the planner looks each command up by id and its device's older commands by device_commands_device_idx,
  // even on PGlite, whose tables are never analysed (no autovacuum) and whose plans must not depend on it.
  const result = await sql<ClaimedCommand>`
    WITH input AS (
      SELECT DISTINCT (value)::uuid AS id FROM jsonb_array_elements_text(${json(ids)})
    ), claimable AS (
      SELECT c.id FROM input i JOIN device_commands c ON c.id = i.id
      WHERE c.status NOT IN ${finalStatuses}
        AND c.status <> 'sent'
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
        status = 'queued', queued_at = COALESCE(c.queued_at, ${now}), updated_at = ${now}
    FROM claimable k, devices d
    WHERE c.id = k.id AND d.id = c.device_id
    RETURNING c.id, c.device_id, COALESCE(c.device_eui, d.dev_eui) AS device_eui, d.meter_no AS device_meter_no,
              c.command_type, c.command_data, c.payload_hex, c.f_port, c.confirmed, c.priority, c.retry_count,
              c.max_retries, c.expires_at, c.created_at, c.dispatch_attempts`.execute(db);
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
export async function unclaimedState(db: Db, ids: readonly string[]): Promise<UnclaimedState[]> {
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
export async function heldQueueItemIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const result = await sql<{ id: string }>`
    SELECT network_queue_item_id AS id FROM device_commands
    WHERE network_queue_item_id IN (SELECT value FROM jsonb_array_elements_text(${json(ids)}))`.execute(db);
  return new Set(result.rows.map((r) => r.id));
}

export type DispatchOutcome =
  /** `sent_at`: when the send that succeeded began (`at`: when its answer came). */
  | { id: string; outcome: 'sent'; at: string; sent_at: string; queue_item_id: string | null; delivery_state: DeliveryState }
  | { id: string; outcome: 'retry'; at: string; retry_count: number; next_attempt_at: string; error: string }
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

async function recordOutcomesOnce(db: Db, token: string, outcomes: readonly DispatchOutcome[]): Promise<RecordedOutcome[]> {
  const rows = outcomes.map((o) => ({
    id: o.id,
    outcome: o.outcome,
    at: o.at,
    sent_at: o.outcome === 'sent' ? o.sent_at : null,
    queue_item_id: o.outcome === 'sent' ? o.queue_item_id : null,
    delivery_state: o.outcome === 'sent' ? o.delivery_state : null,
    retry_count: o.outcome === 'retry' || o.outcome === 'failed' ? o.retry_count : null,
    next_attempt_at: o.outcome === 'retry' ? o.next_attempt_at : null,
    error: o.outcome === 'retry' || o.outcome === 'failed' ? o.error : null,
  }));
  const result = await sql<RecordedOutcome>`
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
      SET status = CASE r.outcome WHEN 'sent' THEN 'sent' WHEN 'failed' THEN 'failed' ELSE c.status END,
          sent_at = CASE WHEN r.outcome = 'sent' THEN r.sent_at ELSE c.sent_at END,
          network_queue_item_id = CASE WHEN r.outcome = 'sent' THEN r.queue_item_id ELSE c.network_queue_item_id END,
          delivery_state = CASE WHEN r.outcome = 'sent' THEN r.delivery_state ELSE c.delivery_state END,
          failed_at = CASE WHEN r.outcome = 'failed' THEN r.at ELSE c.failed_at END,
          retry_count = COALESCE(r.retry_count, c.retry_count),
          next_attempt_at = CASE r.outcome WHEN 'retry' THEN r.next_attempt_at WHEN 'sent' THEN NULL WHEN 'contested' THEN NULL ELSE c.next_attempt_at END,
          error_message = CASE
            WHEN r.outcome IN ('retry', 'failed') THEN r.error
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
      RETURNING c.id, c.status, c.sent_at, c.retry_count, c.error_message, r.outcome = 'contested' AS contested
    ), _act AS (
      UPDATE actuations a
      SET downlink_sent = a.downlink_sent OR upd.status = 'sent',
          sent_at = COALESCE(upd.sent_at, a.sent_at),
          retry_count = upd.retry_count,
          downlink_error = upd.error_message
      FROM upd
      WHERE a.command_id = upd.id
      RETURNING 1
    )
    SELECT id, contested FROM upd`.execute(db);
  return result.rows;
}

/**
 * Mark commands as handed to the queue (pending → queued; last_enqueued_at for the sweeper). Commands
 * scheduled for later stay pending. Returns the ids to push.
 */
export async function markEnqueued(db: Db, ids: readonly string[], now: Date): Promise<string[]> {
  if (!ids.length) return [];
  const result = await sql<{ id: string }>`
    UPDATE device_commands c
    SET status = CASE WHEN c.status = 'pending' THEN 'queued' ELSE c.status END,
        queued_at = COALESCE(c.queued_at, ${now}),
        last_enqueued_at = ${now},
        updated_at = ${now}
    FROM (SELECT DISTINCT (value)::uuid AS id FROM jsonb_array_elements_text(${json(ids)})) i
    WHERE c.id = i.id
      AND c.status NOT IN ${finalStatuses} AND c.status <> 'sent'
      AND (c.scheduled_at IS NULL OR c.scheduled_at <= ${now})
    RETURNING c.id`.execute(db);
  return result.rows.map((r) => r.id);
}

/** Expire open commands past expires_at (not while a dispatcher holds them); mirror on actuations. */
export async function expireCommands(db: Db, now: Date): Promise<string[]> {
  const result = await sql<{ id: string }>`
    WITH x AS (
      UPDATE device_commands c
      SET status = 'expired', expired_at = ${now}, updated_at = ${now},
          error_message = COALESCE(c.error_message,
            CASE WHEN c.status = 'sent' THEN 'not confirmed before it expired' ELSE 'not sent before it expired' END)
      WHERE c.status IN ('pending', 'queued', 'sent')
        AND c.expires_at <= ${now}
        AND (c.claimed_until IS NULL OR c.claimed_until < ${now})
      RETURNING c.id, c.error_message
    ), _act AS (
      UPDATE actuations a SET downlink_error = COALESCE(a.downlink_error, x.error_message)
      FROM x WHERE a.command_id = x.id
      RETURNING 1
    )
    SELECT id FROM x`.execute(db);
  return result.rows.map((r) => r.id);
}

/**
 * Commands that are due and not in the queue: never enqueued (a crash between the database write and the
 * queue send), scheduled and now due, past their backoff, or enqueued so long ago the message was lost.
 * Marks them enqueued (so the next sweep does not pick them again) and returns their ids.
 */
export async function takeDueCommands(db: Db, now: Date, stuckBefore: Date, limit: number): Promise<string[]> {
  const result = await sql<{ id: string }>`
    WITH due AS (
      SELECT c.id FROM device_commands c
      WHERE c.status IN ('pending', 'queued')
        AND (c.claimed_until IS NULL OR c.claimed_until < ${now})
        AND (c.expires_at IS NULL OR c.expires_at > ${now})
        AND COALESCE(GREATEST(c.scheduled_at, c.next_attempt_at), '-infinity') <= ${now}
        AND (
          (c.last_enqueued_at IS NULL AND (c.scheduled_at IS NOT NULL OR c.next_attempt_at IS NOT NULL OR c.created_at < ${stuckBefore}))
          OR c.last_enqueued_at < GREATEST(c.scheduled_at, c.next_attempt_at)
          OR c.last_enqueued_at < ${stuckBefore})
      ORDER BY c.priority, c.created_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE device_commands c
    SET status = 'queued', queued_at = COALESCE(c.queued_at, ${now}), last_enqueued_at = ${now}, updated_at = ${now}
    FROM due WHERE c.id = due.id
    RETURNING c.id`.execute(db);
  return result.rows.map((r) => r.id);
}

/** Commands delivery events may concern: by queue item id, and sent relay / balance commands of devices. */
export interface FeedbackCandidate {
  id: string;
  device_id: string;
  meter_id: string | null;
  command_type: CommandType;
  status: CommandStatus;
  delivery_state: DeliveryState | null;
  confirmed: boolean;
  payload_hex: string | null;
  network_queue_item_id: string | null;
  transmitted_at: Date | null;
  sent_at: Date | null;
  command_data: unknown;
}

export async function feedbackCandidates(db: Db, queueItemIds: readonly string[], relayDeviceIds: readonly string[], balanceDeviceIds: readonly string[]): Promise<FeedbackCandidate[]> {
  // Three lookups, each by its own index (queue item id; a device's sent commands), joined from the
  // batch's values rather than OR-ed, so the plan never degrades to reading every command.
  const columns = sql`c.id, c.device_id, c.meter_id, c.command_type, c.status, c.delivery_state, c.confirmed, c.payload_hex,
           c.network_queue_item_id, c.transmitted_at, c.sent_at, c.command_data`;
  const result = await sql<FeedbackCandidate>`
    SELECT ${columns}
    FROM (SELECT DISTINCT value AS queue_item_id FROM jsonb_array_elements_text(${json(queueItemIds)})) q
    JOIN device_commands c ON c.network_queue_item_id = q.queue_item_id
    UNION
    SELECT ${columns}
    FROM (SELECT DISTINCT (value)::uuid AS device_id FROM jsonb_array_elements_text(${json(relayDeviceIds)})) r
    JOIN device_commands c ON c.device_id = r.device_id AND c.status = 'sent' AND c.command_type IN ('relay_on', 'relay_off')
    UNION
    SELECT ${columns}
    FROM (SELECT DISTINCT (value)::uuid AS device_id FROM jsonb_array_elements_text(${json(balanceDeviceIds)})) b
    JOIN device_commands c ON c.device_id = b.device_id AND c.status = 'sent' AND c.command_type = 'balance_update'`.execute(db);
  return result.rows;
}

/** A txack, ack or ESP32 balance report already stored in device_events for a command just recorded as sent. */
export interface StoredConfirmation {
  command_id: string;
  event_id: string;
  event_type: string;
  device_id: string;
  dev_eui: string | null;
  meter_id: string | null;
  meter_no: string | null;
  event_time: Date;
  queue_item_id: string | null;
  acknowledged: boolean | null;
  balance: number | null;
}

/**
 * Clocks differ (ChirpStack's event time, the ESP32's timestamp, ours): a stored event this much older
 * than the command's sent_at is still looked at. A txack or ack is matched by its queue item id anyway,
 * and the domain drops balance reports older than sent_at; this only bounds the index range read.
 */
const CONFIRMATION_LOOKBACK = sql.raw(`interval '1 hour'`);

/**
 * The confirmations ingestion stored for these commands (sent ones only) before they were recorded as
 * sent: txack/ack events carrying their queue item id, ESP32 balance reports of their device. Read per
 * command from device_events_device_time_idx (device, time range), never by scanning events.
 */
export async function storedConfirmations(db: Db, commandIds: readonly string[]): Promise<StoredConfirmation[]> {
  if (!commandIds.length) return [];
  const result = await sql<StoredConfirmation>`
    SELECT c.id AS command_id, e.id::text AS event_id, e.event_type, c.device_id, e.dev_eui, c.meter_id, d.meter_no, e.event_time,
           e.details->>'queueItemId' AS queue_item_id,
           CASE WHEN jsonb_typeof(e.details->'acknowledged') = 'boolean' THEN (e.details->>'acknowledged')::boolean END AS acknowledged,
           CASE WHEN jsonb_typeof(e.details->'balance') = 'number' THEN (e.details->>'balance')::double precision END AS balance
    FROM (SELECT DISTINCT (value)::uuid AS id FROM jsonb_array_elements_text(${json(commandIds)})) i
    JOIN device_commands c ON c.id = i.id AND c.status = 'sent'
    JOIN devices d ON d.id = c.device_id
    JOIN device_events e ON e.device_id = c.device_id
      AND e.event_time >= c.sent_at - ${CONFIRMATION_LOOKBACK}
      AND ((e.event_type IN ('txack', 'ack') AND e.details->>'queueItemId' = c.network_queue_item_id)
        OR (e.event_type = 'esp32_balance' AND c.command_type = 'balance_update'))`.execute(db);
  return result.rows;
}

export interface FeedbackChangeRow {
  id: string;
  from_status: CommandStatus;
  status: CommandStatus;
  delivery_state: DeliveryState | null;
  transmitted_at: string | null;
  confirmed_at: string | null;
  failed_at: string | null;
  error_message: string | null;
  outcome: Record<string, unknown> | null;
  /** Set on at most one change per meter: the relay state learned, and when. */
  relay_state: 'on' | 'off' | null;
  relay_at: string | null;
}

/**
 * Apply delivery feedback in one statement: the commands (only from the status the change was computed
 * from), their display actuations (confirmed, response time, error) and, for relay echoes, the meter's
 * relay state (only if newer than what the meter already shows).
 */
export async function writeFeedback(db: Db, rows: readonly FeedbackChangeRow[], now: Date): Promise<{ id: string; status: CommandStatus }[]> {
  if (!rows.length) return [];
  const result = await sql<{ id: string; status: CommandStatus }>`
    WITH r AS (
      SELECT * FROM jsonb_to_recordset(${json(rows)}) AS r(
        id uuid, from_status text, status text, delivery_state text, transmitted_at timestamptz,
        confirmed_at timestamptz, failed_at timestamptz, error_message text, outcome jsonb,
        relay_state text, relay_at timestamptz)
    ), upd AS (
      UPDATE device_commands c
      SET status = r.status,
          delivery_state = r.delivery_state,
          transmitted_at = COALESCE(c.transmitted_at, r.transmitted_at),
          confirmed_at = COALESCE(r.confirmed_at, c.confirmed_at),
          failed_at = COALESCE(r.failed_at, c.failed_at),
          error_message = COALESCE(r.error_message, c.error_message),
          outcome = COALESCE(r.outcome, c.outcome),
          updated_at = ${now}
      FROM r
      WHERE c.id = r.id AND c.status = r.from_status
      RETURNING c.id, c.meter_id, c.status, c.confirmed_at, c.error_message
    ), _act AS (
      UPDATE actuations a
      SET downlink_confirmed = a.downlink_confirmed OR upd.status = 'confirmed',
          confirmed_at = CASE WHEN upd.status = 'confirmed' THEN upd.confirmed_at ELSE a.confirmed_at END,
          response_time_ms = CASE WHEN upd.status = 'confirmed'
            THEN GREATEST(0, round(EXTRACT(EPOCH FROM (upd.confirmed_at - a.created_at)) * 1000))::integer
            ELSE a.response_time_ms END,
          downlink_error = CASE WHEN upd.status = 'failed' THEN upd.error_message ELSE a.downlink_error END
      FROM upd
      WHERE a.command_id = upd.id
      RETURNING 1
    ), _meters AS (
      UPDATE meters m
      SET relay_state = r.relay_state, relay_state_at = r.relay_at, relay_state_source = 'modbus_echo', updated_at = ${now}
      FROM upd JOIN r ON r.id = upd.id
      WHERE m.id = upd.meter_id AND upd.status = 'confirmed' AND r.relay_state IS NOT NULL
        AND (m.relay_state_at IS NULL OR m.relay_state_at <= r.relay_at)
      RETURNING 1
    )
    SELECT id, status FROM upd`.execute(db);
  return result.rows;
}
