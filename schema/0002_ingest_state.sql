-- Ingestion state: pulse-counter continuity per device (so counter resets and wrap-around never produce
-- negative consumption) and how a quarantined payload is encoded.
ALTER TABLE devices
  ADD COLUMN counter_offset  bigint NOT NULL DEFAULT 0,
  ADD COLUMN last_counter    bigint,
  ADD COLUMN last_counter_at timestamptz;

ALTER TABLE quarantine
  ADD COLUMN payload_encoding text NOT NULL DEFAULT 'utf8' CHECK (payload_encoding IN ('utf8', 'base64')),
  ADD COLUMN last_error_at timestamptz;



-- Every ingested batch updates its meters' last reading and its devices' last_seen: leave room in each
-- page so those updates stay HOT (no index maintenance; none of the updated columns is indexed).
ALTER TABLE meters SET (fillfactor = 70);
ALTER TABLE devices SET (fillfactor = 70);
