// Delivery feedback's SQL: find the commands a batch of txacks, acks, Modbus echoes and ESP32 balance
// reports may concern (one query), read confirmations stored before their commands were recorded as sent,
// and write the changes the domain decided, with their actuations and the meter's relay state (one
// statement). Each change applies only from the status it was computed from, so a redelivery changes nothing.
import { sql } from 'kysely';
import { json, type Executor } from '#store/db';
import type { CommandStatus, CommandType, DeliveryState } from '#domain/commands';

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

export async function feedbackCandidates(db: Executor, queueItemIds: readonly string[], relayDeviceIds: readonly string[], balanceDeviceIds: readonly string[]): Promise<FeedbackCandidate[]> {
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
export async function storedConfirmations(db: Executor, commandIds: readonly string[]): Promise<StoredConfirmation[]> {
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
export async function writeFeedback(db: Executor, rows: readonly FeedbackChangeRow[], now: Date): Promise<{ id: string; status: CommandStatus }[]> {
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
      RETURNING a.space_id, a.new_state, upd.status, upd.confirmed_at
    ), _display AS (
      -- A space's display_state is what its display last confirmed showing (the latest confirmation wins).
      UPDATE parking_spaces s
      SET display_state = c.new_state, updated_at = ${now}
      FROM (SELECT DISTINCT ON (space_id) space_id, new_state FROM _act WHERE status = 'confirmed' ORDER BY space_id, confirmed_at DESC) c
      WHERE s.id = c.space_id
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
