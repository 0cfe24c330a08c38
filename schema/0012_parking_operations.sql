-- Parking operated through the API: spaces retired rather than deleted, which device served a space as
-- its sensor or display and when (swaps keep history), reservations with their window, and why a space's
-- state was set by hand.

ALTER TABLE parking_spaces
  ADD COLUMN retired_at timestamptz,
  ADD COLUMN override_reason text,
  ADD COLUMN override_by text;
CREATE INDEX parking_spaces_site_zone_idx ON parking_spaces (site_id, zone) WHERE retired_at IS NULL;

-- A space's sensor and display over time: one open row per space and role; a swap closes it.
CREATE TABLE parking_space_devices (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  space_id    uuid NOT NULL REFERENCES parking_spaces(id),
  device_id   uuid NOT NULL REFERENCES devices(id),
  role        text NOT NULL CHECK (role IN ('sensor', 'display')),
  valid_from  timestamptz NOT NULL,
  valid_to    timestamptz,
  CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX parking_space_devices_current ON parking_space_devices (space_id, role) WHERE valid_to IS NULL;
CREATE INDEX parking_space_devices_device_idx ON parking_space_devices (device_id);

-- Reservations: RESERVED for [starts_at, ends_at). Overlaps are refused under the space's row lock
-- (no exclusion constraint: btree_gist is not available on every backend, PGlite included).
CREATE TABLE parking_reservations (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  space_id      uuid NOT NULL REFERENCES parking_spaces(id),
  starts_at     timestamptz NOT NULL,
  ends_at       timestamptz NOT NULL,
  reference     text NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
  status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'active', 'ended', 'cancelled')),
  created_by    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  ended_at      timestamptz,
  cancelled_at  timestamptz,
  cancel_reason text,
  CHECK (ends_at > starts_at)
);
CREATE INDEX parking_reservations_space_idx ON parking_reservations (space_id, starts_at);
CREATE INDEX parking_reservations_open_idx ON parking_reservations (status, starts_at, ends_at) WHERE status IN ('scheduled', 'active');
