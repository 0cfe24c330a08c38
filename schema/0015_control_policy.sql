-- The balance-control policy (issue 11): site defaults and per-account overrides (validated JSON, one
-- document each; the app merges them over the built-in defaults), exemptions, disconnects scheduled for the
-- end of friendly-credit hours, the warning ladder's rung, quiet hours for non-urgent SMS, and debt
-- recovery: an arrears balance kept by its own append-only entries, reduced only by debt_recovery ledger
-- entries keyed by the payment they came from (so a payment is recovered from at most once).

-- ---- Policy documents ----
CREATE TABLE site_control_policies (
  site_id     uuid PRIMARY KEY REFERENCES sites(id),
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
  updated_by  text,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE account_control_policies (
  account_id  uuid PRIMARY KEY REFERENCES accounts(id),
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
  updated_by  text,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- The per-account columns of 0001/0013 become overrides (a value other than their default is one); the
-- control policy reads only the documents from here on.
INSERT INTO account_control_policies (account_id, settings, updated_by)
SELECT id,
       jsonb_strip_nulls(jsonb_build_object(
         'lowBalanceMinor', NULLIF(low_balance_threshold_minor, 0),
         'emergencyCreditMinor', NULLIF(emergency_credit_minor, 0),
         'reconnectThresholdMinor', NULLIF(reconnect_threshold_minor, 0))),
       'migration 0015'
FROM accounts
WHERE low_balance_threshold_minor <> 0 OR emergency_credit_minor <> 0 OR reconnect_threshold_minor <> 0;

-- ---- Exemption (control_exempt_reason is 0013's): who set it and when ----
ALTER TABLE accounts ADD COLUMN control_exempt_by text;
ALTER TABLE accounts ADD COLUMN control_exempt_at timestamptz;

-- ---- The warning ladder: how many warnings the account has been sent since its last top-up ----
ALTER TABLE accounts ADD COLUMN alert_rung smallint NOT NULL DEFAULT 0 CHECK (alert_rung >= 0);

-- ---- Quiet hours: a non-urgent notification waits (next_attempt_at) for the end of the site's quiet hours ----
ALTER TABLE notifications ADD COLUMN urgent boolean NOT NULL DEFAULT true;

-- ---- Disconnects scheduled for the end of friendly-credit hours ----
-- At most one open (scheduled) per meter; issued by the control run once due (its relay_off command linked),
-- or cancelled when a payment (or an exemption) comes first.
CREATE TABLE scheduled_disconnects (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id    uuid NOT NULL REFERENCES accounts(id),
  meter_id      uuid NOT NULL REFERENCES meters(id),
  due_at        timestamptz NOT NULL,
  status        text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'issued', 'cancelled')),
  reason        text NOT NULL,
  command_id    uuid REFERENCES device_commands(id),
  closed_reason text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  closed_at     timestamptz,
  CHECK ((status = 'scheduled') = (closed_at IS NULL)),
  CHECK (status <> 'issued' OR command_id IS NOT NULL)
);
CREATE UNIQUE INDEX scheduled_disconnects_open_idx ON scheduled_disconnects (meter_id) WHERE status = 'scheduled';
CREATE INDEX scheduled_disconnects_due_idx ON scheduled_disconnects (due_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_disconnects_account_idx ON scheduled_disconnects (account_id, created_at DESC);

-- ---- Debt recovery ----
-- A debt_recovery entry moves money from the prepaid balance to the arrears: a debit with its source
-- (source_ref 'payment-entry:{id}'), keyed 'debt-recovery:{payment entry id}'.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_entry_type_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_entry_type_check
  CHECK (entry_type IN ('payment', 'consumption', 'adjustment', 'refund', 'reversal', 'debt_recovery'));
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_source_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_source_check CHECK (
  (entry_type = 'payment' AND payment_id IS NOT NULL AND amount_minor > 0 AND reverses_entry_id IS NULL)
  OR (entry_type = 'reversal' AND reverses_entry_id IS NOT NULL AND payment_id IS NULL)
  OR (entry_type = 'adjustment' AND reason IS NOT NULL AND length(btrim(reason)) > 0 AND payment_id IS NULL AND reverses_entry_id IS NULL)
  OR (entry_type IN ('consumption', 'refund') AND source_ref IS NOT NULL AND payment_id IS NULL AND reverses_entry_id IS NULL)
  OR (entry_type = 'debt_recovery' AND source_ref IS NOT NULL AND amount_minor < 0 AND payment_id IS NULL AND reverses_entry_id IS NULL)
);

ALTER TABLE accounts ADD COLUMN arrears_minor bigint NOT NULL DEFAULT 0 CHECK (arrears_minor >= 0);

-- The arrears' own ledger: 'set' (an admin sets the arrears, with a reason: + or -) and 'recovery' (the
-- share of a payment taken by its debt_recovery ledger entry: always -). Append-only.
CREATE TABLE arrears_entries (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id           uuid NOT NULL REFERENCES accounts(id),
  entry_type           text NOT NULL CHECK (entry_type IN ('set', 'recovery')),
  amount_minor         bigint NOT NULL CHECK (amount_minor <> 0),
  arrears_after_minor  bigint NOT NULL CHECK (arrears_after_minor >= 0),
  ledger_entry_id      bigint UNIQUE REFERENCES ledger_entries(id),
  payment_entry_id     bigint UNIQUE REFERENCES ledger_entries(id),
  reason               text,
  created_by           text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  CHECK ((entry_type = 'recovery' AND amount_minor < 0 AND ledger_entry_id IS NOT NULL AND payment_entry_id IS NOT NULL)
      OR (entry_type = 'set' AND reason IS NOT NULL AND length(btrim(reason)) > 0 AND ledger_entry_id IS NULL AND payment_entry_id IS NULL))
);
CREATE INDEX arrears_entries_account_idx ON arrears_entries (account_id, id);
CREATE FUNCTION arrears_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'arrears_entries is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER arrears_entries_append_only BEFORE UPDATE OR DELETE ON arrears_entries
  FOR EACH ROW EXECUTE FUNCTION arrears_entries_append_only();

-- Set an account's arrears to p_arrears_minor (an admin's decision, with its reason); returns the entry's
-- id (NULL when the arrears already were that).
CREATE FUNCTION arrears_set(p_account_id uuid, p_arrears_minor bigint, p_reason text, p_actor text)
RETURNS TABLE (out_entry_id bigint, out_arrears_minor bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_current bigint;
  v_id      bigint;
BEGIN
  SELECT a.arrears_minor INTO v_current FROM accounts a WHERE a.id = p_account_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % does not exist', p_account_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF p_arrears_minor = v_current THEN
    RETURN QUERY SELECT NULL::bigint, v_current;
    RETURN;
  END IF;
  INSERT INTO arrears_entries (account_id, entry_type, amount_minor, arrears_after_minor, reason, created_by)
  VALUES (p_account_id, 'set', p_arrears_minor - v_current, p_arrears_minor, p_reason, p_actor)
  RETURNING id INTO v_id;
  UPDATE accounts SET arrears_minor = p_arrears_minor, updated_at = now() WHERE id = p_account_id;
  RETURN QUERY SELECT v_id, p_arrears_minor;
END $$;

-- Recover p_percent % of a payment's credit (rounded down to whole minor units, at most the arrears) from
-- the account's balance into its arrears: one debt_recovery ledger entry and one arrears entry, keyed by the
-- payment's ledger entry, so calling it again for the same payment changes nothing.
CREATE FUNCTION debt_recover(p_payment_id uuid, p_percent numeric, p_actor text)
RETURNS TABLE (out_recovered_minor bigint, out_balance_after_minor bigint, out_arrears_minor bigint, out_created boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_payment  ledger_entries%ROWTYPE;
  v_arrears  bigint;
  v_balance  bigint;
  v_amount   bigint;
  v_entry    bigint;
  v_done     arrears_entries%ROWTYPE;
BEGIN
  SELECT * INTO v_payment FROM ledger_entries e WHERE e.payment_id = p_payment_id AND e.entry_type = 'payment';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % has no credit to recover from', p_payment_id USING ERRCODE = 'no_data_found';
  END IF;
  SELECT a.arrears_minor, a.balance_minor INTO v_arrears, v_balance FROM accounts a WHERE a.id = v_payment.account_id FOR UPDATE;
  SELECT * INTO v_done FROM arrears_entries r WHERE r.payment_entry_id = v_payment.id;
  IF FOUND THEN
    RETURN QUERY SELECT -v_done.amount_minor, (SELECT e.balance_after_minor FROM ledger_entries e WHERE e.id = v_done.ledger_entry_id), v_arrears, false;
    RETURN;
  END IF;
  v_amount := least(v_arrears, floor(v_payment.amount_minor * p_percent / 100)::bigint);
  IF v_amount IS NULL OR v_amount <= 0 THEN
    RETURN QUERY SELECT 0::bigint, v_balance, v_arrears, false;
    RETURN;
  END IF;
  SELECT l.out_entry_id, l.out_balance_after_minor INTO v_entry, v_balance
  FROM ledger_post(v_payment.account_id, 'debt_recovery', -v_amount, 'debt-recovery:' || v_payment.id::text, NULL, NULL, NULL,
                   'payment-entry:' || v_payment.id::text, p_percent::text || '% of payment entry ' || v_payment.id::text || ' to arrears', p_actor) l;
  INSERT INTO arrears_entries (account_id, entry_type, amount_minor, arrears_after_minor, ledger_entry_id, payment_entry_id, created_by)
  VALUES (v_payment.account_id, 'recovery', -v_amount, v_arrears - v_amount, v_entry, v_payment.id, p_actor);
  UPDATE accounts SET arrears_minor = v_arrears - v_amount WHERE id = v_payment.account_id;
  RETURN QUERY SELECT v_amount, v_balance, v_arrears - v_amount, true;
END $$;

-- The arrears' invariants (an empty result means they add up), beside ledger_invariant_violations().
CREATE FUNCTION arrears_invariant_violations() RETURNS TABLE (rule text, subject text, detail text)
LANGUAGE sql STABLE AS $$
  -- Each account's arrears equal the sum of its arrears entries ...
  SELECT 'arrears_equals_sum', a.id::text, 'arrears ' || a.arrears_minor || ' but entries sum to ' || COALESCE(s.total, 0)
  FROM accounts a LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM arrears_entries GROUP BY account_id) s ON s.account_id = a.id
  WHERE a.arrears_minor <> COALESCE(s.total, 0)
  UNION ALL
  -- ... each entry's arrears_after is the running sum.
  SELECT 'arrears_running', r.id::text, 'arrears_after ' || r.arrears_after_minor || ' but the running sum is ' || r.running
  FROM (SELECT x.id, x.arrears_after_minor, sum(x.amount_minor) OVER (PARTITION BY x.account_id ORDER BY x.id) AS running FROM arrears_entries x) r
  WHERE r.arrears_after_minor <> r.running
  UNION ALL
  -- A recovery mirrors one debt_recovery ledger entry of the same account, taken from a payment of that account,
  -- no more than the payment ...
  SELECT 'recovery_matches_ledger', x.id::text, 'recovery of ' || -x.amount_minor || ' does not match its ledger entry or payment'
  FROM arrears_entries x
  LEFT JOIN ledger_entries e ON e.id = x.ledger_entry_id
  LEFT JOIN ledger_entries p ON p.id = x.payment_entry_id
  WHERE x.entry_type = 'recovery'
    AND (e.id IS NULL OR e.entry_type <> 'debt_recovery' OR e.account_id <> x.account_id OR e.amount_minor <> x.amount_minor
         OR p.id IS NULL OR p.entry_type <> 'payment' OR p.account_id <> x.account_id OR -x.amount_minor > p.amount_minor)
  UNION ALL
  -- ... and every debt_recovery ledger entry has its recovery.
  SELECT 'debt_recovery_recorded', e.id::text, 'debt_recovery entry without its arrears entry'
  FROM ledger_entries e
  WHERE e.entry_type = 'debt_recovery' AND NOT EXISTS (SELECT 1 FROM arrears_entries x WHERE x.ledger_entry_id = e.id)
$$;
