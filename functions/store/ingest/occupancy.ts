// Parking occupancy changes from sensor uplinks: the event, the space's state, and the display command
// (with its actuation audit row) a changed displayed state calls for, in one statement per batch.
import { sql } from 'kysely';
import { json, type Executor } from '#store/db';

export interface OccupancyRow {
  space_id: string;
  device_id: string;
  occupied: boolean;
  previous_state: string | null;
  new_state: string;
  event_time: string;
  source_key: string;
  /** Set when the space's displayed state changes and it has a display with a code for the state. */
  display_device_id: string | null;
  display_dev_eui: string | null;
  payload_hex: string | null;
  fport: number | null;
  confirmed: boolean;
  expires_at: string;
}

/**
 * Occupancy changes: the event, the space's state, and for a changed displayed state a display command
 * with its actuation audit row. Only a newly recorded change queues a command, so a redelivered uplink
 * never actuates twice. Returns the ids of the commands created.
 */
export async function writeOccupancy(db: Executor, rows: OccupancyRow[]): Promise<{ commandIds: string[] }> {
  const result = await sql<{ id: string }>`
    WITH o AS (
      SELECT * FROM jsonb_to_recordset(${json(rows)}) AS o(
        space_id uuid, device_id uuid, occupied boolean, previous_state text, new_state text, event_time timestamptz,
        source_key text, display_device_id uuid, display_dev_eui text, payload_hex text, fport integer,
        confirmed boolean, expires_at timestamptz)
    ), occ AS (
      INSERT INTO occupancy_events (space_id, device_id, occupied, previous_state, new_state, event_time, source_key)
      SELECT space_id, device_id, occupied, previous_state, new_state, event_time, source_key FROM o
      ON CONFLICT (source_key) DO NOTHING
      RETURNING space_id, occupied, new_state, event_time, source_key
    ), latest AS (
      SELECT DISTINCT ON (space_id) * FROM occ ORDER BY space_id, event_time DESC
    ), _spaces AS (
      UPDATE parking_spaces s
      SET sensor_state = CASE WHEN l.occupied THEN 'occupied' ELSE 'free' END,
          current_state = l.new_state,
          state_changed_at = l.event_time,
          updated_at = now()
      FROM latest l
      WHERE s.id = l.space_id AND (s.state_changed_at IS NULL OR s.state_changed_at <= l.event_time)
      RETURNING s.id
    ), cmd AS (
      INSERT INTO device_commands (device_id, device_eui, command_type, command_data, payload_hex, f_port, confirmed,
        priority, idempotency_key, expires_at, requested_by, reason, created_at)
      SELECT o.display_device_id, o.display_dev_eui, 'display',
             jsonb_build_object('spaceId', o.space_id, 'state', o.new_state, 'trigger', 'sensor_uplink'),
             o.payload_hex, o.fport, o.confirmed, 3, 'display:' || o.source_key, o.expires_at, 'system:parking', 'sensor_uplink',
             -- A display's commands go out oldest first: created_at follows the sensor's time, so two changes
             -- of one space in one batch (occupied, then free) are sent in the order they happened.
             LEAST(o.event_time, now())
      FROM o JOIN occ ON occ.source_key = o.source_key
      WHERE o.display_device_id IS NOT NULL AND o.payload_hex IS NOT NULL
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING id, idempotency_key
    ), _act AS (
      INSERT INTO actuations (space_id, command_id, trigger_type, trigger_source, previous_state, new_state,
        display_deveui, display_code, fport, confirmed)
      SELECT o.space_id, cmd.id, 'sensor_uplink', o.source_key, o.previous_state, o.new_state,
             o.display_dev_eui, o.payload_hex, o.fport, o.confirmed
      FROM cmd JOIN o ON cmd.idempotency_key = 'display:' || o.source_key
      RETURNING 1
    )
    SELECT id FROM cmd`.execute(db);
  return { commandIds: result.rows.map((r) => r.id) };
}
