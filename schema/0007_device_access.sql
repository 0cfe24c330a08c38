-- MQTT credentials of ESP32 meters (issue 9): one per device, issued by POST /devices/{id}/mqtt-credentials
-- and shown once. Only a slow hash of the secret is kept, in Mosquitto's PBKDF2-SHA512 format
-- ($7$iterations$salt$hash), so the embedded broker verifies it and the Mosquitto password file is exported
-- from it without the secret ever being stored. The username is the meter's meterNo (also its MQTT client
-- id and IoT thing name). Issuing again rotates (the old secret stops working at once); revoking deletes
-- the row. Both are in the audit log.
CREATE TABLE mqtt_credentials (
  device_id     uuid PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_-]{1,64}$'),
  password_hash text NOT NULL CHECK (password_hash LIKE '$7$%'),
  issued_at     timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Bounded quarantine (issue 9): a payload over its source's limit (a meter's 4 KiB, a ChirpStack event's
-- 64 KiB) is kept truncated to its first 4 KiB, with the size and SHA-256 of what was sent. Rows from
-- before this migration have no size or hash.
ALTER TABLE quarantine
  ADD COLUMN payload_bytes     integer CHECK (payload_bytes >= 0),
  ADD COLUMN payload_sha256    text CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
  ADD COLUMN payload_truncated boolean NOT NULL DEFAULT false;

-- What each source (a device, or a topic's first two levels) sent to the quarantine per hour. Rows over
-- the allowance (domain/device-access.ts quarantinePerSourceHour) are counted here and not stored, so a
-- flood from one unknown source grows this counter, not the quarantine.
CREATE TABLE quarantine_source_hours (
  source_key text NOT NULL,
  hour       timestamptz NOT NULL,
  messages   integer NOT NULL CHECK (messages >= 0),
  PRIMARY KEY (source_key, hour)
);
