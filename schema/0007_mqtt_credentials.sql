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
