-- Quantify: the one definition of the database. Applied by functions/adapters/db/migrate.ts at local
-- start, in tests and by the deploy-time custom resource. Constraints do the work where they can:
-- every idempotency key is a unique key, every reference a foreign key, every enumeration a check.

-- Estates, mini-grids, buildings: where meters and customers belong.
CREATE TABLE sites (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  timezone    text NOT NULL DEFAULT 'UTC',
  address     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Device registry: every device, LoRaWAN by DevEUI, ESP32 by meter number, Modbus TCP by gateway/slave.
-- decoder names the module that decodes its uplinks; config carries per-device settings
-- (pulsesPerUnit, modbus slaveId / relay frame, fPort, displayCodes, confirmed downlinks, ...).
CREATE TABLE devices (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  site_id                  uuid REFERENCES sites(id),
  kind                     text NOT NULL CHECK (kind IN ('lorawan', 'esp32', 'modbus_tcp')),
  dev_eui                  text UNIQUE CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
  meter_no                 text UNIQUE CHECK (meter_no ~ '^[A-Za-z0-9_-]{1,64}$'),
  device_type              text NOT NULL,
  model                    text,
  manufacturer             text,
  decoder                  text NOT NULL,
  capabilities             jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(capabilities) = 'object'),
  config                   jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
  lifecycle                text NOT NULL DEFAULT 'installed' CHECK (lifecycle IN ('installed', 'active', 'decommissioned')),
  expected_uplink_interval_s integer CHECK (expected_uplink_interval_s > 0),
  last_seen_at             timestamptz,
  last_f_cnt               bigint,
  battery_level            numeric(5,2),
  margin                   integer,
  joined_at                timestamptz,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  CHECK (kind <> 'lorawan' OR dev_eui IS NOT NULL),
  CHECK (kind <> 'esp32' OR meter_no IS NOT NULL)
);
CREATE INDEX devices_site_idx ON devices (site_id);

-- Customers and their prepaid accounts (wallets). Money is integer minor units.
CREATE TABLE customers (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  site_id       uuid REFERENCES sites(id),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  phone         text,
  email         text,
  external_ref  text UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
  id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id                 uuid NOT NULL REFERENCES customers(id),
  account_no                  text NOT NULL UNIQUE,
  currency                    char(3) NOT NULL DEFAULT 'KES' CHECK (currency ~ '^[A-Z]{3}$'),
  balance_minor               bigint NOT NULL DEFAULT 0,
  low_balance_threshold_minor bigint NOT NULL DEFAULT 0 CHECK (low_balance_threshold_minor >= 0),
  status                      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- Meters: what is billed. The device that serves a meter is in meter_devices (history kept on swaps).
CREATE TABLE meters (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  site_id               uuid REFERENCES sites(id),
  account_id            uuid REFERENCES accounts(id),
  meter_no              text NOT NULL UNIQUE CHECK (meter_no ~ '^[A-Za-z0-9_-]{1,64}$'),
  serial_number         text,
  meter_type            text NOT NULL CHECK (meter_type IN ('electricity', 'water')),
  unit                  text NOT NULL CHECK (unit IN ('kWh', 'm3')),
  manufacturer          text,
  model                 text,
  is_prepaid            boolean NOT NULL DEFAULT true,
  is_active             boolean NOT NULL DEFAULT true,
  communication_status  text NOT NULL DEFAULT 'unknown' CHECK (communication_status IN ('online', 'offline', 'unknown')),
  last_reading          numeric(20,6),
  last_reading_date     timestamptz,
  relay_state           text NOT NULL DEFAULT 'unknown' CHECK (relay_state IN ('on', 'off', 'unknown')),
  relay_state_at        timestamptz,
  relay_state_source    text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((meter_type = 'electricity' AND unit = 'kWh') OR (meter_type = 'water' AND unit = 'm3'))
);
CREATE INDEX meters_site_idx ON meters (site_id);
CREATE INDEX meters_account_idx ON meters (account_id);

-- Which device serves which meter, over time. At most one current device per meter and one current
-- meter per device (valid_to IS NULL); a swap closes the old row and opens a new one.
CREATE TABLE meter_devices (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  meter_id    uuid NOT NULL REFERENCES meters(id),
  device_id   uuid NOT NULL REFERENCES devices(id),
  valid_from  timestamptz NOT NULL DEFAULT now(),
  valid_to    timestamptz,
  CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX meter_devices_current_meter ON meter_devices (meter_id) WHERE valid_to IS NULL;
CREATE UNIQUE INDEX meter_devices_current_device ON meter_devices (device_id) WHERE valid_to IS NULL;

-- Readings. source_key is the idempotency key (ChirpStack deduplicationId, meterNo+timestamp, ...);
-- (device_id, f_cnt, reading_date) catches a redelivery that carries a new deduplication id.
CREATE TABLE meter_readings (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  meter_id           uuid NOT NULL REFERENCES meters(id),
  device_id          uuid REFERENCES devices(id),
  source_key         text NOT NULL UNIQUE,
  reading_value      numeric(20,6),
  reading_date       timestamptz NOT NULL,
  reading_type       text NOT NULL DEFAULT 'automatic' CHECK (reading_type IN ('automatic', 'manual', 'estimated')),
  is_validated       boolean NOT NULL DEFAULT true,
  pulse_count        bigint,
  temperature        numeric(6,2),
  humidity           numeric(5,2),
  rssi               integer,
  snr                numeric(5,2),
  battery_level      numeric(5,2),
  voltage            numeric(10,3),
  current            numeric(10,3),
  power              numeric(14,3),
  energy_import      numeric(20,6),
  energy_export      numeric(20,6),
  frequency          numeric(6,3),
  power_factor       numeric(5,3),
  f_cnt              bigint,
  extra              jsonb,
  raw_payload        text,
  received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meter_readings_meter_date_idx ON meter_readings (meter_id, reading_date DESC);
CREATE UNIQUE INDEX meter_readings_device_fcnt_time ON meter_readings (device_id, f_cnt, reading_date)
  WHERE f_cnt IS NOT NULL AND device_id IS NOT NULL;

-- Network events that are not readings (status, join, log, ack, txack): what the device and the network
-- server said, kept for operators.
CREATE TABLE device_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_id    uuid REFERENCES devices(id),
  dev_eui      text,
  event_type   text NOT NULL,
  event_time   timestamptz NOT NULL,
  level        text,
  code         text,
  description  text,
  details      jsonb,
  source_key   text NOT NULL UNIQUE,
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_events_device_time_idx ON device_events (device_id, event_time DESC);

-- The durable command queue. Transitions are conditional updates (WHERE status = ...), so a duplicate
-- delivery or two dispatchers never send a command twice.
CREATE TABLE device_commands (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  device_id               uuid NOT NULL REFERENCES devices(id),
  meter_id                uuid REFERENCES meters(id),
  device_eui              text,
  command_type            text NOT NULL CHECK (command_type IN ('relay_on', 'relay_off', 'display', 'balance_update', 'downlink')),
  command_data            jsonb NOT NULL DEFAULT '{}'::jsonb,
  payload_hex             text CHECK (payload_hex ~ '^([0-9a-f]{2})*$'),
  f_port                  integer CHECK (f_port BETWEEN 1 AND 223),
  confirmed               boolean NOT NULL DEFAULT false,
  status                  text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'queued', 'sent', 'confirmed', 'failed', 'cancelled', 'expired')),
  delivery_state          text CHECK (delivery_state IN ('awaiting_device', 'transmitted', 'acknowledged', 'published', 'nacked')),
  priority                integer NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
  scheduled_at            timestamptz,
  idempotency_key         text NOT NULL UNIQUE,
  retry_count             integer NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  max_retries             integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
  next_attempt_at         timestamptz,
  error_message           text,
  network_queue_item_id   text UNIQUE,
  expires_at              timestamptz,
  requested_by            text,
  reason                  text,
  created_at              timestamptz NOT NULL DEFAULT now(),
  queued_at               timestamptz,
  sent_at                 timestamptz,
  transmitted_at          timestamptz,
  confirmed_at            timestamptz,
  failed_at               timestamptz,
  cancelled_at            timestamptz,
  expired_at              timestamptz,
  updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_commands_ready_idx ON device_commands (priority, created_at)
  WHERE status IN ('pending', 'queued');
CREATE INDEX device_commands_device_idx ON device_commands (device_id, created_at DESC);
CREATE INDEX device_commands_meter_idx ON device_commands (meter_id, created_at DESC);
CREATE INDEX device_commands_open_idx ON device_commands (device_id, status) WHERE status = 'sent';

-- Parking: spaces reference their occupancy sensor and display by FK, and keep the DevEUIs denormalised
-- for uplink lookups without joins; the trigger below keeps the copies in sync.
CREATE TABLE parking_spaces (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  site_id            uuid REFERENCES sites(id),
  code               text NOT NULL UNIQUE,
  name               text NOT NULL,
  zone               text,
  sensor_device_id   uuid REFERENCES devices(id),
  sensor_dev_eui     text UNIQUE,
  display_device_id  uuid REFERENCES devices(id),
  display_dev_eui    text,
  current_state      text NOT NULL DEFAULT 'FREE' CHECK (current_state IN ('FREE', 'OCCUPIED', 'RESERVED', 'MAINTENANCE')),
  sensor_state       text CHECK (sensor_state IN ('occupied', 'free')),
  display_state      text,
  state_changed_at   timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION parking_spaces_sync_dev_euis() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.sensor_dev_eui := (SELECT dev_eui FROM devices WHERE id = NEW.sensor_device_id);
  NEW.display_dev_eui := (SELECT dev_eui FROM devices WHERE id = NEW.display_device_id);
  RETURN NEW;
END $$;
CREATE TRIGGER parking_spaces_sync_dev_euis BEFORE INSERT OR UPDATE ON parking_spaces
  FOR EACH ROW EXECUTE FUNCTION parking_spaces_sync_dev_euis();

-- A device's DevEUI is its identity on the network; changing it would desynchronise the copies above.
CREATE FUNCTION devices_dev_eui_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.dev_eui IS DISTINCT FROM NEW.dev_eui AND OLD.dev_eui IS NOT NULL THEN
    RAISE EXCEPTION 'dev_eui of device % cannot change (register a new device instead)', OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER devices_dev_eui_immutable BEFORE UPDATE ON devices
  FOR EACH ROW EXECUTE FUNCTION devices_dev_eui_immutable();

CREATE TABLE occupancy_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  space_id       uuid NOT NULL REFERENCES parking_spaces(id),
  device_id      uuid REFERENCES devices(id),
  occupied       boolean NOT NULL,
  previous_state text,
  new_state      text NOT NULL,
  event_time     timestamptz NOT NULL,
  source_key     text NOT NULL UNIQUE,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX occupancy_events_space_time_idx ON occupancy_events (space_id, event_time DESC);

-- Display actuation audit trail (registry proposal, phase 3).
CREATE TABLE actuations (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  space_id            uuid NOT NULL REFERENCES parking_spaces(id),
  command_id          uuid UNIQUE REFERENCES device_commands(id),
  trigger_type        text NOT NULL CHECK (trigger_type IN
                        ('sensor_uplink', 'api_reservation', 'manual_override', 'system_cleanup', 'reservation_expired')),
  trigger_source      text,
  previous_state      text,
  new_state           text NOT NULL,
  display_deveui      text NOT NULL,
  display_code        text NOT NULL,
  fport               integer,
  confirmed           boolean NOT NULL DEFAULT false,
  downlink_sent       boolean NOT NULL DEFAULT false,
  downlink_confirmed  boolean NOT NULL DEFAULT false,
  downlink_error      text,
  response_time_ms    integer,
  retry_count         integer NOT NULL DEFAULT 0,
  created_at          timestamptz NOT NULL DEFAULT now(),
  sent_at             timestamptz,
  confirmed_at        timestamptz
);
CREATE INDEX actuations_space_time_idx ON actuations (space_id, created_at DESC);
CREATE INDEX actuations_trigger_idx ON actuations (trigger_type, created_at DESC);
CREATE INDEX actuations_errors_idx ON actuations (downlink_sent, downlink_error)
  WHERE downlink_sent = false OR downlink_error IS NOT NULL;

-- Payments from mobile money providers; (provider, provider_transaction_id) makes each payment count once.
CREATE TABLE payments (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  provider                 text NOT NULL CHECK (provider IN ('mpesa', 'manual')),
  provider_transaction_id  text NOT NULL,
  account_id               uuid REFERENCES accounts(id),
  account_reference        text,
  amount_minor             bigint NOT NULL CHECK (amount_minor > 0),
  currency                 char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  phone                    text,
  status                   text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'applied', 'unmatched', 'failed')),
  raw                      jsonb,
  received_at              timestamptz NOT NULL DEFAULT now(),
  applied_at               timestamptz,
  UNIQUE (provider, provider_transaction_id)
);

-- The ledger: append-only, integer minor units; an account's balance changes only in the transaction
-- that appends its entry (balance_after_minor records the running balance).
CREATE TABLE ledger_entries (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id           uuid NOT NULL REFERENCES accounts(id),
  entry_type           text NOT NULL CHECK (entry_type IN ('payment', 'consumption', 'adjustment', 'refund', 'reversal')),
  amount_minor         bigint NOT NULL CHECK (amount_minor <> 0),
  balance_after_minor  bigint NOT NULL,
  currency             char(3) NOT NULL,
  idempotency_key      text NOT NULL UNIQUE,
  payment_id           uuid UNIQUE REFERENCES payments(id),
  description          text,
  created_by           text,
  created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger_entries is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

-- Tariffs: price per unit in minor units (fractional minor units allowed; billing rounds per entry).
CREATE TABLE tariffs (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  site_id                uuid REFERENCES sites(id),
  name                   text NOT NULL,
  meter_type             text NOT NULL CHECK (meter_type IN ('electricity', 'water')),
  currency               char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  price_per_unit_minor   numeric(14,4) NOT NULL CHECK (price_per_unit_minor >= 0),
  standing_charge_minor  bigint NOT NULL DEFAULT 0 CHECK (standing_charge_minor >= 0),
  valid_from             timestamptz NOT NULL DEFAULT now(),
  valid_to               timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now(),
  CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- Inbound messages that could not be processed: kept whole, with the reason, until reprocessed.
CREATE TABLE quarantine (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  source          text NOT NULL,
  topic           text,
  dev_eui         text,
  meter_no        text,
  reason_code     text NOT NULL,
  reason          text NOT NULL,
  payload         text NOT NULL,
  dedup_key       text UNIQUE,
  status          text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'reprocessed', 'discarded')),
  attempts        integer NOT NULL DEFAULT 0,
  received_at     timestamptz NOT NULL DEFAULT now(),
  resolved_at     timestamptz
);
CREATE INDEX quarantine_status_idx ON quarantine (status, received_at DESC);
CREATE INDEX quarantine_dev_eui_idx ON quarantine (dev_eui) WHERE status = 'new';

-- Every change an operator makes.
CREATE TABLE audit_log (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  actor        text NOT NULL,
  role         text NOT NULL,
  action       text NOT NULL,
  target_type  text NOT NULL,
  target_id    text,
  details      jsonb,
  request_id   text,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, created_at DESC);
