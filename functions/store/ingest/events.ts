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
  /** Size and SHA-256 (hex) of the payload as sent; `payload` holds only its head when truncated. */
  payload_bytes: number;
  payload_sha256: string;
  payload_truncated: boolean;
  dedup_key: string;
  /** Whose hourly quarantine allowance the row counts against (its device, or its topic's source). */
  source_key: string;
}

/**
 * Network events and quarantined messages, in one statement; returns the newly quarantined keys and how
 * many rows were over their source's hourly allowance (`perSourceHour`): those are counted in
 * quarantine_source_hours, not written.
 */
export async function writeEventsAndQuarantine(
  db: Executor,
  events: DeviceEventRow[],
  quarantine: QuarantineRow[],
  perSourceHour: number,
): Promise<{ newQuarantine: string[]; overAllowance: number }> {
  const result = await sql<{ new_quarantine: string[] | string; over_allowance: number }>`
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
        payload_encoding text, payload_bytes integer, payload_sha256 text, payload_truncated boolean, dedup_key text,
        source_key text)
    ), counted AS (
      INSERT INTO quarantine_source_hours (source_key, hour, messages)
      SELECT source_key, date_trunc('hour', now()), count(*) FROM q GROUP BY source_key
      ON CONFLICT (source_key, hour) DO UPDATE SET messages = quarantine_source_hours.messages + EXCLUDED.messages
      RETURNING source_key, messages
    ), admitted AS (
      -- A source's rows in this batch are the last of its count: those within the allowance are written.
      SELECT r.* FROM (
        SELECT q.*, row_number() OVER (PARTITION BY q.source_key) AS rn, count(*) OVER (PARTITION BY q.source_key) AS n FROM q
      ) r JOIN counted c ON c.source_key = r.source_key
      WHERE c.messages - r.n + r.rn <= ${perSourceHour}
    ), q_ins AS (
      INSERT INTO quarantine (source, topic, dev_eui, meter_no, reason_code, reason, payload, payload_encoding, payload_bytes, payload_sha256, payload_truncated, dedup_key, last_error_at)
      SELECT source, topic, dev_eui, meter_no, reason_code, reason, payload, payload_encoding, payload_bytes, payload_sha256, payload_truncated, dedup_key, now() FROM admitted
      ON CONFLICT (dedup_key) DO UPDATE
        SET attempts = quarantine.attempts + 1, reason = EXCLUDED.reason, reason_code = EXCLUDED.reason_code,
            last_error_at = now(), status = 'new', resolved_at = NULL
      RETURNING dedup_key, (xmax = 0) AS inserted
    )
    SELECT (SELECT count(*) FROM ev_ins)::int AS events,
           (SELECT COALESCE(jsonb_agg(dedup_key) FILTER (WHERE inserted), '[]'::jsonb) FROM q_ins) AS new_quarantine,
           ((SELECT count(*) FROM q) - (SELECT count(*) FROM admitted))::int AS over_allowance`.execute(db);
  const raw = result.rows[0]?.new_quarantine ?? [];
  const keys: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
  return { newQuarantine: Array.isArray(keys) ? keys.map(String) : [], overAllowance: Number(result.rows[0]?.over_allowance ?? 0) };
}

