-- Fixed charges (issue 11): one fixed-charge entry per account per local day, posted by the billing job.
-- A tariff's fixed components (per day, or per month shared among its days) and the taxes on them are
-- charged per meter (each meter on the account at the start of the day, by the tariff that prices it);
-- the account gets one entry a day summing its meters, keyed fixed:{accountId}:{localDate}, its per-meter
-- lines kept in billing_fixed_charges.detail. billing_fixed_state holds, per account, the first local day
-- not charged yet and the rounding remainder carried to its next entry. billing_fixed_apply posts a chunk
-- of accounts' days and moves their state in one statement, so a second run, or two runs at once, adds
-- nothing (an account whose state moved since the run read it is left alone: 'stale').

CREATE TABLE billing_fixed_state (
  account_id   uuid PRIMARY KEY REFERENCES accounts(id),
  -- The first local day (in the account's site time zone) not charged yet; NULL: never charged.
  next_date    date,
  carry_minor  numeric NOT NULL DEFAULT 0,
  last_run_id  uuid,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_fixed_charges (
  account_id  uuid NOT NULL REFERENCES accounts(id),
  local_date  date NOT NULL,
  entry_id    bigint NOT NULL UNIQUE REFERENCES ledger_entries(id),
  -- {timezone, meters: [{meterId, meterNo, tariffId, amountMinor (exact)}], lines: [{componentId, description, quantity, amountMinor}]}
  detail      jsonb NOT NULL,
  PRIMARY KEY (account_id, local_date)
);

ALTER TABLE billing_runs ADD COLUMN fixed_entries_posted integer NOT NULL DEFAULT 0;
ALTER TABLE billing_runs ADD COLUMN fixed_amount_minor bigint NOT NULL DEFAULT 0;

-- One chunk of fixed charges. p_accounts: [{accountId, expectedNextDate (null: never charged), nextDate, carry}]
-- (every account the run charged, with or without entries); p_items: [{accountId, localDate, amountMinor
-- (a debit, > 0), idempotencyKey, sourceRef, description, detail}]. Locks the accounts' fixed state (account
-- order), then the accounts (id order, as ledger_post does); a key already posted is not posted again (a
-- key reused for another amount or account is QL001); entries are appended in (account, day) order with
-- their running balance_after.
CREATE FUNCTION billing_fixed_apply(p_run_id uuid, p_accounts jsonb, p_items jsonb)
RETURNS TABLE (out_account_id uuid, out_local_date date, out_outcome text, out_entry_id bigint, out_balance_after_minor bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_reused text;
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS billing_fixed_apply_accounts (
    account_id uuid PRIMARY KEY, expected_next_date date, next_date date, carry numeric, stale boolean NOT NULL DEFAULT false
  ) ON COMMIT DROP;
  CREATE TEMP TABLE IF NOT EXISTS billing_fixed_apply_items (
    account_id uuid, local_date date, amount_minor bigint, idempotency_key text, source_ref text, description text, detail jsonb,
    outcome text, entry_id bigint, balance_after_minor bigint, PRIMARY KEY (account_id, local_date)
  ) ON COMMIT DROP;
  DELETE FROM billing_fixed_apply_accounts;
  DELETE FROM billing_fixed_apply_items;
  INSERT INTO billing_fixed_apply_accounts (account_id, expected_next_date, next_date, carry)
  SELECT a."accountId", a."expectedNextDate", a."nextDate", a.carry
  FROM jsonb_to_recordset(p_accounts) AS a("accountId" uuid, "expectedNextDate" date, "nextDate" date, carry numeric);
  INSERT INTO billing_fixed_apply_items (account_id, local_date, amount_minor, idempotency_key, source_ref, description, detail)
  SELECT i."accountId", i."localDate", i."amountMinor", i."idempotencyKey", i."sourceRef", i.description, i.detail
  FROM jsonb_to_recordset(p_items) AS i("accountId" uuid, "localDate" date, "amountMinor" bigint, "idempotencyKey" text,
    "sourceRef" text, description text, detail jsonb);
  IF EXISTS (SELECT 1 FROM billing_fixed_apply_items WHERE amount_minor IS NULL OR amount_minor <= 0) THEN
    RAISE EXCEPTION 'a fixed charge must be positive' USING ERRCODE = 'check_violation';
  END IF;
  IF EXISTS (SELECT 1 FROM billing_fixed_apply_items i WHERE NOT EXISTS (SELECT 1 FROM billing_fixed_apply_accounts a WHERE a.account_id = i.account_id)) THEN
    RAISE EXCEPTION 'a fixed charge names an account the chunk does not move' USING ERRCODE = 'check_violation';
  END IF;

  -- Lock the accounts' fixed state (account order); an account whose state moved since the run read it is stale.
  INSERT INTO billing_fixed_state (account_id) SELECT account_id FROM billing_fixed_apply_accounts ORDER BY account_id ON CONFLICT (account_id) DO NOTHING;
  PERFORM 1 FROM billing_fixed_state s WHERE s.account_id IN (SELECT account_id FROM billing_fixed_apply_accounts) ORDER BY s.account_id FOR UPDATE;
  UPDATE billing_fixed_apply_accounts a SET stale = true
  FROM billing_fixed_state s WHERE s.account_id = a.account_id AND s.next_date IS DISTINCT FROM a.expected_next_date;
  UPDATE billing_fixed_apply_items i SET outcome = 'stale'
  FROM billing_fixed_apply_accounts a WHERE a.account_id = i.account_id AND a.stale;

  PERFORM 1 FROM accounts a WHERE a.id IN (SELECT account_id FROM billing_fixed_apply_items WHERE outcome IS NULL) ORDER BY a.id FOR UPDATE;
  SELECT i.idempotency_key INTO v_reused
  FROM billing_fixed_apply_items i JOIN ledger_entries e ON e.idempotency_key = i.idempotency_key
  WHERE i.outcome IS NULL AND (e.account_id <> i.account_id OR e.amount_minor <> -i.amount_minor OR e.entry_type <> 'consumption')
  LIMIT 1;
  IF v_reused IS NOT NULL THEN
    RAISE EXCEPTION 'idempotency key % was already used for a different posting', v_reused USING ERRCODE = 'QL001';
  END IF;
  UPDATE billing_fixed_apply_items i SET outcome = 'duplicate', entry_id = e.id, balance_after_minor = e.balance_after_minor
  FROM ledger_entries e WHERE i.outcome IS NULL AND e.idempotency_key = i.idempotency_key;

  WITH posted AS (
    INSERT INTO ledger_entries (account_id, entry_type, amount_minor, balance_after_minor, currency, idempotency_key, source_ref, description, created_by)
    SELECT i.account_id, 'consumption', -i.amount_minor,
           a.balance_minor - sum(i.amount_minor) OVER (PARTITION BY i.account_id ORDER BY i.local_date),
           a.currency, i.idempotency_key, i.source_ref, i.description, 'billing'
    FROM billing_fixed_apply_items i JOIN accounts a ON a.id = i.account_id
    WHERE i.outcome IS NULL
    ORDER BY i.account_id, i.local_date
    RETURNING id, idempotency_key, balance_after_minor
  )
  UPDATE billing_fixed_apply_items i SET outcome = 'posted', entry_id = p.id, balance_after_minor = p.balance_after_minor
  FROM posted p WHERE p.idempotency_key = i.idempotency_key;
  INSERT INTO billing_fixed_charges (account_id, local_date, entry_id, detail)
  SELECT account_id, local_date, entry_id, detail FROM billing_fixed_apply_items WHERE outcome = 'posted' ORDER BY account_id, local_date;
  UPDATE accounts a SET balance_minor = a.balance_minor - t.total, updated_at = now()
  FROM (SELECT account_id, sum(amount_minor) AS total FROM billing_fixed_apply_items WHERE outcome = 'posted' GROUP BY account_id) t
  WHERE a.id = t.account_id;

  UPDATE billing_fixed_state s SET next_date = a.next_date, carry_minor = a.carry, last_run_id = p_run_id, updated_at = now()
  FROM billing_fixed_apply_accounts a WHERE a.account_id = s.account_id AND NOT a.stale;

  RETURN QUERY
    SELECT i.account_id, i.local_date, i.outcome, i.entry_id, i.balance_after_minor FROM billing_fixed_apply_items i
    UNION ALL
    SELECT a.account_id, NULL::date, 'stale', NULL::bigint, NULL::bigint FROM billing_fixed_apply_accounts a
    WHERE a.stale AND NOT EXISTS (SELECT 1 FROM billing_fixed_apply_items i WHERE i.account_id = a.account_id)
    ORDER BY 1, 2;
END $$;
