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
-- The meters' state rows are locked first (meter order), then the postings go through ledger_post
-- (account order), so two runs on the same meters wait for each other and never deadlock.
CREATE FUNCTION billing_apply(p_run_id uuid, p_items jsonb)
RETURNS TABLE (out_meter_id uuid, out_account_id uuid, out_outcome text, out_entry_id bigint, out_balance_after_minor bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  v_post record;
BEGIN
  INSERT INTO billing_state (meter_id) SELECT "meterId" FROM (SELECT * FROM jsonb_to_recordset(p_items) AS i("meterId" uuid, "accountId" uuid, "expectedReadingId" bigint, "toReadingId" bigint,
    "toValue" numeric, "toAt" timestamptz, carry numeric, "monthKey" text, "monthUnits" numeric, "amountMinor" bigint,
    "idempotencyKey" text, "sourceRef" text, description text)) i ORDER BY 1 ON CONFLICT (meter_id) DO NOTHING;
  PERFORM 1 FROM billing_state s WHERE s.meter_id IN (SELECT "meterId" FROM (SELECT * FROM jsonb_to_recordset(p_items) AS i("meterId" uuid, "accountId" uuid, "expectedReadingId" bigint, "toReadingId" bigint,
    "toValue" numeric, "toAt" timestamptz, carry numeric, "monthKey" text, "monthUnits" numeric, "amountMinor" bigint,
    "idempotencyKey" text, "sourceRef" text, description text)) i) ORDER BY s.meter_id FOR UPDATE;
  FOR r IN
    SELECT i."meterId" AS meter_id, i."accountId" AS account_id, i."toReadingId" AS to_reading_id, i."toValue" AS to_value,
           i."toAt" AS to_at, i.carry, i."monthKey" AS month_key, i."monthUnits" AS month_units, i."amountMinor" AS amount_minor,
           i."idempotencyKey" AS idempotency_key, i."sourceRef" AS source_ref, i.description,
           (s.last_reading_id IS NOT DISTINCT FROM i."expectedReadingId") AS current
    FROM (SELECT * FROM jsonb_to_recordset(p_items) AS i("meterId" uuid, "accountId" uuid, "expectedReadingId" bigint, "toReadingId" bigint,
    "toValue" numeric, "toAt" timestamptz, carry numeric, "monthKey" text, "monthUnits" numeric, "amountMinor" bigint,
    "idempotencyKey" text, "sourceRef" text, description text)) i JOIN billing_state s ON s.meter_id = i."meterId"
    ORDER BY i."accountId", i."meterId"
  LOOP
    IF NOT r.current THEN
      RETURN QUERY SELECT r.meter_id, r.account_id, 'stale'::text, NULL::bigint, NULL::bigint;
      CONTINUE;
    END IF;
    IF r.amount_minor < 0 THEN
      RAISE EXCEPTION 'a consumption charge cannot be negative (meter %)', r.meter_id USING ERRCODE = 'check_violation';
    END IF;
    IF r.amount_minor > 0 THEN
      SELECT * INTO v_post FROM ledger_post(r.account_id, 'consumption', -r.amount_minor, r.idempotency_key, NULL, NULL, NULL,
                                            r.source_ref, r.description, 'billing');
    END IF;
    UPDATE billing_state SET last_reading_id = r.to_reading_id, last_value = r.to_value, last_at = r.to_at, carry_minor = r.carry,
      month_key = r.month_key, month_units = r.month_units, last_run_id = p_run_id, updated_at = now()
    WHERE meter_id = r.meter_id;
    IF r.amount_minor > 0 THEN
      RETURN QUERY SELECT r.meter_id, r.account_id, CASE WHEN v_post.out_created THEN 'posted' ELSE 'duplicate' END,
        v_post.out_entry_id, v_post.out_balance_after_minor;
    ELSE
      RETURN QUERY SELECT r.meter_id, r.account_id, 'advanced'::text, NULL::bigint, NULL::bigint;
    END IF;
  END LOOP;
END $$;
