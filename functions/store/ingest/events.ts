// Device events (network events, frames without measurements, ESP32 status and balance reports) and
// quarantined messages, in one statement per batch. Events are keyed by their source key, quarantine
// rows by their dedup key: a redelivery adds no row, and a message quarantined again counts an attempt.
import { sql } from 'kysely';
import { json, type Executor } from '#store/db';

export interface DeviceEventRow {
  device_id: string | null;
  dev_eui: string | null;
  event_type: string;
  event_time: string;
  level: string | null;
  code: string | null;
  description: string | null;
  details: Record<string, unknown> | null;
  source_key: string;
}

export interface QuarantineRow {
  source: string;
  topic: string;
  dev_eui: string | null;
  meter_no: string | null;
  reason_code: string;
  reason: string;
  payload: string;
  payload_encoding: 'utf8' | 'base64';
  dedup_key: string;
}

/** Network events and quarantined messages, in one statement; returns the newly quarantined keys. */
export async function writeEventsAndQuarantine(db: Executor, events: DeviceEventRow[], quarantine: QuarantineRow[]): Promise<{ newQuarantine: string[] }> {
  const result = await sql<{ new_quarantine: string[] | string }>`
    WITH ev AS (
      SELECT * FROM jsonb_to_recordset(${json(events)}) AS e(
        device_id uuid, dev_eui text, event_type text, event_time timestamptz, level text, code text,
        description text, details jsonb, source_key text)
    ), ev_ins AS (
      INSERT INTO device_events (device_id, dev_eui, event_type, event_time, level, code, description, details, source_key)
      SELECT device_id, dev_eui, event_type, event_time, level, code, description, details, source_key FROM ev
      ON CONFLICT (source_key) DO NOTHING
      RETURNING 1
    ), q AS (
      SELECT * FROM jsonb_to_recordset(${json(quarantine)}) AS q(
        source text, topic text, dev_eui text, meter_no text, reason_code text, reason text, payload text,
        payload_encoding text, dedup_key text)
    ), q_ins AS (
      INSERT INTO quarantine (source, topic, dev_eui, meter_no, reason_code, reason, payload, payload_encoding, dedup_key, last_error_at)
      SELECT source, topic, dev_eui, meter_no, reason_code, reason, payload, payload_encoding, dedup_key, now() FROM q
      ON CONFLICT (dedup_key) DO UPDATE
        SET attempts = quarantine.attempts + 1, reason = EXCLUDED.reason, reason_code = EXCLUDED.reason_code,
            last_error_at = now(), status = 'new', resolved_at = NULL
      RETURNING dedup_key, (xmax = 0) AS inserted
    )
    SELECT (SELECT count(*) FROM ev_ins)::int AS events,
           (SELECT COALESCE(jsonb_agg(dedup_key) FILTER (WHERE inserted), '[]'::jsonb) FROM q_ins) AS new_quarantine`.execute(db);
  const raw = result.rows[0]?.new_quarantine ?? [];
  const keys: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
  return { newQuarantine: Array.isArray(keys) ? keys.map(String) : [] };
}

