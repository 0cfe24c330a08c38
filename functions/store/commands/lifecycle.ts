// The command lifecycle's SQL outside dispatch: handing commands to the queue (pending → queued), and the
// sweeper's expiry and re-enqueueing of due commands that are not in the queue. Each is one conditional
// UPDATE, so a command claimed by a dispatcher or already final is left alone.
import { sql } from 'kysely';
import { json, type Executor } from '#store/db';
import { finalStatuses } from './statuses.ts';

/**
 * Mark commands as handed to the queue (pending → queued; last_enqueued_at for the sweeper). Commands
 * scheduled for later stay pending. Returns the ids to push.
 */
export async function markEnqueued(db: Executor, ids: readonly string[], now: Date): Promise<string[]> {
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
export async function expireCommands(db: Executor, now: Date): Promise<{ id: string; device_id: string }[]> {
  const result = await sql<{ id: string; device_id: string }>`
    WITH x AS (
      UPDATE device_commands c
      SET status = 'expired', expired_at = ${now}, updated_at = ${now},
          error_message = COALESCE(c.error_message,
            CASE WHEN c.status = 'sent' THEN 'not confirmed before it expired' ELSE 'not sent before it expired' END)
      WHERE c.status IN ('pending', 'queued', 'sent')
        AND c.expires_at <= ${now}
        AND (c.claimed_until IS NULL OR c.claimed_until < ${now})
      RETURNING c.id, c.device_id, c.error_message
    ), _act AS (
      UPDATE actuations a SET downlink_error = COALESCE(a.downlink_error, x.error_message)
      FROM x WHERE a.command_id = x.id
      RETURNING 1
    )
    SELECT id, device_id FROM x`.execute(db);
  return result.rows;
}

/**
 * Commands that are due and not in the queue: never enqueued (a crash between the database write and the
 * queue send), scheduled and now due, past their backoff, or enqueued so long ago the message was lost;
 * and sent commands of unknown delivery whose device queue is due to be listed (they stay sent).
 * Marks them enqueued (so the next sweep does not pick them again) and returns their ids.
 */
export async function takeDueCommands(db: Executor, now: Date, stuckBefore: Date, limit: number): Promise<string[]> {
  const result = await sql<{ id: string }>`
    WITH due_open AS (
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
    ), due_unknown AS (
      -- A separate statement so each uses its own partial index (device_commands_unknown_idx here).
      SELECT c.id FROM device_commands c
      WHERE c.status = 'sent' AND c.delivery_state = 'unknown'
        AND (c.claimed_until IS NULL OR c.claimed_until < ${now})
        AND (c.expires_at IS NULL OR c.expires_at > ${now})
        AND COALESCE(c.next_attempt_at, '-infinity') <= ${now}
        AND (c.last_enqueued_at IS NULL OR c.last_enqueued_at < c.next_attempt_at OR c.last_enqueued_at < ${stuckBefore})
      ORDER BY c.next_attempt_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), due AS (
      SELECT id FROM due_open UNION ALL SELECT id FROM due_unknown
    )
    UPDATE device_commands c
    SET status = CASE WHEN c.status = 'sent' THEN 'sent' ELSE 'queued' END,
        queued_at = COALESCE(c.queued_at, ${now}), last_enqueued_at = ${now}, updated_at = ${now}
    FROM due WHERE c.id = due.id
    RETURNING c.id`.execute(db);
  return result.rows.map((r) => r.id);
}

