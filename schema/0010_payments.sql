-- Prepaid accounts, the ledger and M-Pesa payments (issue 10).
-- A posting is one SQL function call (ledger_post), so in the cloud it is one Data API request: it takes
-- the account's row lock, checks the idempotency key, appends the entry and moves the balance together.
-- Payments are recorded and credited by payment_record (one call per callback), allocated from suspense
-- by payment_allocate and reversed by payment_reverse; ledger_invariant_violations() lists what is wrong.
-- Custom SQLSTATEs (class QL): QL001 idempotency key reused for a different posting; QL002 entry already
-- reversed; QL003 a reversal that does not mirror its entry; QL004 a payment not in a state that allows it.

-- ---- Customers and accounts ----
CREATE INDEX customers_phone_idx ON customers (phone);
-- What customers type as the M-Pesa account number: short, human-typeable, unique whatever the case.
ALTER TABLE accounts ADD CONSTRAINT accounts_account_no_format CHECK (account_no ~ '^[A-Za-z0-9][A-Za-z0-9-]{1,19}$');
CREATE UNIQUE INDEX accounts_account_no_ci_idx ON accounts (upper(account_no));
CREATE INDEX accounts_customer_idx ON accounts (customer_id);
CREATE INDEX meters_meter_no_ci_idx ON meters (upper(meter_no));

-- Which account a meter belongs to, over time (like meter_devices): at most one current row per meter.
-- meters.account_id mirrors the current row, written in the same transaction.
CREATE TABLE account_meters (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id  uuid NOT NULL REFERENCES accounts(id),
  meter_id    uuid NOT NULL REFERENCES meters(id),
  valid_from  timestamptz NOT NULL DEFAULT now(),
  valid_to    timestamptz,
  CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE UNIQUE INDEX account_meters_current_idx ON account_meters (meter_id) WHERE valid_to IS NULL;
CREATE INDEX account_meters_account_idx ON account_meters (account_id, valid_from DESC);

-- ---- Payments ----
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
  CHECK (status IN ('received', 'applied', 'suspense', 'conflict', 'failed', 'reversed'));
ALTER TABLE payments ADD COLUMN channel text NOT NULL DEFAULT 'c2b' CHECK (channel IN ('c2b', 'stk', 'pull', 'manual'));
ALTER TABLE payments ADD COLUMN transacted_at timestamptz;
ALTER TABLE payments ADD COLUMN status_reason text;
ALTER TABLE payments ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX payments_status_idx ON payments (status, received_at DESC);
CREATE INDEX payments_account_idx ON payments (account_id, received_at DESC);
CREATE INDEX payments_received_idx ON payments (received_at DESC);

-- ---- The ledger: every entry names its source ----
ALTER TABLE ledger_entries ADD COLUMN reverses_entry_id bigint UNIQUE REFERENCES ledger_entries(id);
ALTER TABLE ledger_entries ADD COLUMN reason text;
-- The billing line (or other external source) a consumption or refund entry comes from.
ALTER TABLE ledger_entries ADD COLUMN source_ref text;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_source_check CHECK (
  (entry_type = 'payment' AND payment_id IS NOT NULL AND amount_minor > 0 AND reverses_entry_id IS NULL)
  OR (entry_type = 'reversal' AND reverses_entry_id IS NOT NULL AND payment_id IS NULL)
  OR (entry_type = 'adjustment' AND reason IS NOT NULL AND length(btrim(reason)) > 0 AND payment_id IS NULL AND reverses_entry_id IS NULL)
  OR (entry_type IN ('consumption', 'refund') AND source_ref IS NOT NULL AND payment_id IS NULL AND reverses_entry_id IS NULL)
);
CREATE INDEX ledger_entries_created_idx ON ledger_entries (account_id, created_at);

-- ---- Daraja: every callback stored raw first, STK requests and their outcome ----
CREATE TABLE daraja_callbacks (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind                 text NOT NULL CHECK (kind IN ('c2b_validation', 'c2b_confirmation', 'stk_callback', 'result')),
  body                 text NOT NULL,
  source_ip            text,
  receipt              text,
  checkout_request_id  text,
  outcome              text NOT NULL DEFAULT 'received'
                         CHECK (outcome IN ('received', 'accepted', 'rejected', 'processed', 'duplicate', 'invalid', 'conflict')),
  reason               text,
  payment_id           uuid REFERENCES payments(id),
  received_at          timestamptz NOT NULL DEFAULT now(),
  processed_at         timestamptz
);
CREATE INDEX daraja_callbacks_received_idx ON daraja_callbacks (received_at DESC);
CREATE INDEX daraja_callbacks_receipt_idx ON daraja_callbacks (receipt);

CREATE TABLE stk_requests (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id           uuid NOT NULL REFERENCES accounts(id),
  phone                text NOT NULL,
  amount_minor         bigint NOT NULL CHECK (amount_minor > 0),
  account_reference    text NOT NULL CHECK (length(account_reference) BETWEEN 1 AND 12),
  merchant_request_id  text UNIQUE,
  checkout_request_id  text UNIQUE,
  status               text NOT NULL DEFAULT 'initiating'
                         CHECK (status IN ('initiating', 'pending', 'paid', 'failed', 'conflict', 'error')),
  result_code          text,
  result_desc          text,
  receipt              text,
  payment_id           uuid REFERENCES payments(id),
  requested_by         text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  last_queried_at      timestamptz,
  completed_at         timestamptz
);
CREATE INDEX stk_requests_pending_idx ON stk_requests (created_at) WHERE status IN ('initiating', 'pending');
CREATE INDEX stk_requests_account_idx ON stk_requests (account_id, created_at DESC);

-- Reconciliation runs (Pull Transactions): what was found, credited and mismatched.
CREATE TABLE daraja_reconciliations (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  window_from   timestamptz NOT NULL,
  window_to     timestamptz NOT NULL,
  seen          integer NOT NULL DEFAULT 0,
  credited      integer NOT NULL DEFAULT 0,
  mismatches    jsonb NOT NULL DEFAULT '[]'::jsonb,
  status        text NOT NULL CHECK (status IN ('ok', 'mismatches', 'failed')),
  error         text,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- ---- ledger_post: the one way to append to the ledger ----
CREATE FUNCTION ledger_post(
  p_account_id uuid,
  p_entry_type text,
  p_amount_minor bigint,
  p_idempotency_key text,
  p_payment_id uuid,
  p_reverses_entry_id bigint,
  p_reason text,
  p_source_ref text,
  p_description text,
  p_created_by text
) RETURNS TABLE (out_entry_id bigint, out_balance_after_minor bigint, out_created boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_balance  bigint;
  v_currency char(3);
  v_existing ledger_entries%ROWTYPE;
  v_reversed ledger_entries%ROWTYPE;
  v_id       bigint;
BEGIN
  SELECT a.balance_minor, a.currency INTO v_balance, v_currency FROM accounts a WHERE a.id = p_account_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % does not exist', p_account_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  -- Under the account's lock, a posting with the same key on this account has committed or never will:
  -- each statement here reads the latest committed rows.
  SELECT * INTO v_existing FROM ledger_entries e WHERE e.idempotency_key = p_idempotency_key;
  IF FOUND THEN
    IF v_existing.account_id <> p_account_id OR v_existing.amount_minor <> p_amount_minor OR v_existing.entry_type <> p_entry_type THEN
      RAISE EXCEPTION 'idempotency key % was already used for a different posting (entry %)', p_idempotency_key, v_existing.id
        USING ERRCODE = 'QL001';
    END IF;
    RETURN QUERY SELECT v_existing.id, v_existing.balance_after_minor, false;
    RETURN;
  END IF;
  IF p_entry_type = 'reversal' THEN
    SELECT * INTO v_reversed FROM ledger_entries e WHERE e.id = p_reverses_entry_id;
    IF NOT FOUND OR v_reversed.account_id <> p_account_id OR v_reversed.amount_minor <> -p_amount_minor OR v_reversed.entry_type = 'reversal' THEN
      RAISE EXCEPTION 'a reversal must mirror an entry of the same account that is not itself a reversal (entry %)', p_reverses_entry_id
        USING ERRCODE = 'QL003';
    END IF;
    IF EXISTS (SELECT 1 FROM ledger_entries e WHERE e.reverses_entry_id = p_reverses_entry_id) THEN
      RAISE EXCEPTION 'entry % is already reversed', p_reverses_entry_id USING ERRCODE = 'QL002';
    END IF;
  END IF;
  v_balance := v_balance + p_amount_minor;
  INSERT INTO ledger_entries (account_id, entry_type, amount_minor, balance_after_minor, currency, idempotency_key,
                              payment_id, reverses_entry_id, reason, source_ref, description, created_by)
  VALUES (p_account_id, p_entry_type, p_amount_minor, v_balance, v_currency, p_idempotency_key,
          p_payment_id, p_reverses_entry_id, p_reason, p_source_ref, p_description, p_created_by)
  RETURNING id INTO v_id;
  UPDATE accounts SET balance_minor = v_balance, updated_at = now() WHERE id = p_account_id;
  RETURN QUERY SELECT v_id, v_balance, true;
END $$;

-- The account a payment reference names: an account number, else the current account of a meter number
-- (trimmed, any case). NULL when neither.
CREATE FUNCTION account_for_reference(p_reference text) RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT id FROM (
    SELECT a.id, 1 AS rank FROM accounts a WHERE upper(a.account_no) = upper(btrim(p_reference))
    UNION ALL
    SELECT am.account_id, 2 FROM meters m JOIN account_meters am ON am.meter_id = m.id AND am.valid_to IS NULL
    WHERE upper(m.meter_no) = upper(btrim(p_reference))
  ) found ORDER BY rank LIMIT 1
$$;

-- ---- payment_record: a payment heard of (C2B, STK, Pull Transactions), credited at most once ----
-- Keyed by (provider, receipt). The first call inserts it and credits the account its reference (or
-- p_account_id) names, or leaves it in suspense; p_hold_reason holds it as a conflict instead. A repeated
-- call returns the payment as it is, credited or not, and never credits it again.
CREATE FUNCTION payment_record(
  p_provider text,
  p_receipt text,
  p_channel text,
  p_amount_minor bigint,
  p_currency text,
  p_phone text,
  p_reference text,
  p_transacted_at timestamptz,
  p_raw jsonb,
  p_account_id uuid,
  p_hold_reason text
) RETURNS TABLE (out_payment_id uuid, out_status text, out_account_id uuid, out_balance_after_minor bigint,
                 out_created boolean, out_amount_minor bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_id      uuid;
  v_account uuid;
  v_acc     accounts%ROWTYPE;
  v_balance bigint;
  v_reason  text;
  v_payment payments%ROWTYPE;
BEGIN
  INSERT INTO payments (provider, provider_transaction_id, channel, amount_minor, currency, phone, account_reference,
                        transacted_at, raw, status)
  VALUES (p_provider, p_receipt, p_channel, p_amount_minor, p_currency, p_phone, p_reference, p_transacted_at, p_raw, 'received')
  ON CONFLICT (provider, provider_transaction_id) DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    SELECT * INTO v_payment FROM payments p WHERE p.provider = p_provider AND p.provider_transaction_id = p_receipt;
    RETURN QUERY SELECT v_payment.id, v_payment.status, v_payment.account_id,
      (SELECT e.balance_after_minor FROM ledger_entries e WHERE e.payment_id = v_payment.id), false, v_payment.amount_minor;
    RETURN;
  END IF;
  IF p_hold_reason IS NOT NULL THEN
    UPDATE payments SET status = 'conflict', status_reason = p_hold_reason, account_id = p_account_id, updated_at = now() WHERE id = v_id;
    RETURN QUERY SELECT v_id, 'conflict'::text, p_account_id, NULL::bigint, true, p_amount_minor;
    RETURN;
  END IF;
  v_account := COALESCE(p_account_id, account_for_reference(p_reference));
  IF v_account IS NULL THEN
    v_reason := 'no account or meter has the reference ' || COALESCE(quote_literal(p_reference), 'NULL');
  ELSE
    SELECT * INTO v_acc FROM accounts a WHERE a.id = v_account;
    IF v_acc.status = 'closed' THEN
      v_reason := 'account ' || v_acc.account_no || ' is closed';
    ELSIF v_acc.currency <> p_currency THEN
      v_reason := 'account ' || v_acc.account_no || ' is in ' || v_acc.currency || ', the payment in ' || p_currency;
    END IF;
  END IF;
  IF v_reason IS NOT NULL THEN
    UPDATE payments SET status = 'suspense', status_reason = v_reason, updated_at = now() WHERE id = v_id;
    RETURN QUERY SELECT v_id, 'suspense'::text, NULL::uuid, NULL::bigint, true, p_amount_minor;
    RETURN;
  END IF;
  SELECT l.out_balance_after_minor INTO v_balance
  FROM ledger_post(v_account, 'payment', p_amount_minor, 'payment:' || v_id::text, v_id, NULL, NULL, NULL,
                   p_channel || ' ' || p_receipt, 'daraja') l;
  UPDATE payments SET status = 'applied', account_id = v_account, applied_at = now(), status_reason = NULL, updated_at = now()
  WHERE id = v_id;
  RETURN QUERY SELECT v_id, 'applied'::text, v_account, v_balance, true, p_amount_minor;
END $$;

-- ---- payment_allocate: a suspense (or reviewed conflict) payment credited to an account ----
CREATE FUNCTION payment_allocate(p_payment_id uuid, p_account_id uuid, p_actor text)
RETURNS TABLE (out_balance_after_minor bigint, out_created boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_payment payments%ROWTYPE;
  v_currency char(3);
  v_balance bigint;
BEGIN
  SELECT * INTO v_payment FROM payments p WHERE p.id = p_payment_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % does not exist', p_payment_id USING ERRCODE = 'no_data_found';
  END IF;
  IF v_payment.status = 'applied' AND v_payment.account_id = p_account_id THEN
    RETURN QUERY SELECT e.balance_after_minor, false FROM ledger_entries e WHERE e.payment_id = p_payment_id;
    RETURN;
  END IF;
  IF v_payment.status NOT IN ('suspense', 'conflict') THEN
    RAISE EXCEPTION 'payment % is %, only a suspense or conflict payment can be allocated', p_payment_id, v_payment.status
      USING ERRCODE = 'QL004';
  END IF;
  SELECT a.currency INTO v_currency FROM accounts a WHERE a.id = p_account_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % does not exist', p_account_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF v_currency <> v_payment.currency THEN
    RAISE EXCEPTION 'account is in %, the payment in %', v_currency, v_payment.currency USING ERRCODE = 'QL004';
  END IF;
  SELECT l.out_balance_after_minor INTO v_balance
  FROM ledger_post(p_account_id, 'payment', v_payment.amount_minor, 'payment:' || p_payment_id::text, p_payment_id,
                   NULL, NULL, NULL, 'allocated ' || v_payment.channel || ' ' || v_payment.provider_transaction_id, p_actor) l;
  UPDATE payments SET status = 'applied', account_id = p_account_id, applied_at = now(),
    status_reason = 'allocated by ' || p_actor, updated_at = now()
  WHERE id = p_payment_id;
  RETURN QUERY SELECT v_balance, true;
END $$;

-- ---- payment_reverse: a credited payment taken back by a reversal entry ----
CREATE FUNCTION payment_reverse(p_payment_id uuid, p_reason text, p_actor text)
RETURNS TABLE (out_entry_id bigint, out_balance_after_minor bigint, out_created boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_payment payments%ROWTYPE;
  v_entry   ledger_entries%ROWTYPE;
BEGIN
  SELECT * INTO v_payment FROM payments p WHERE p.id = p_payment_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % does not exist', p_payment_id USING ERRCODE = 'no_data_found';
  END IF;
  IF v_payment.status NOT IN ('applied', 'reversed') THEN
    RAISE EXCEPTION 'payment % is %, only an applied payment can be reversed', p_payment_id, v_payment.status USING ERRCODE = 'QL004';
  END IF;
  SELECT * INTO v_entry FROM ledger_entries e WHERE e.payment_id = p_payment_id;
  RETURN QUERY SELECT * FROM ledger_post(v_entry.account_id, 'reversal', -v_entry.amount_minor, 'reversal:' || v_entry.id::text,
                                         NULL, v_entry.id, p_reason, NULL, 'reversal of payment ' || v_payment.provider_transaction_id, p_actor);
  UPDATE payments SET status = 'reversed', status_reason = p_reason, updated_at = now() WHERE id = p_payment_id;
END $$;

-- ---- The invariants: an empty result means the money adds up ----
CREATE FUNCTION ledger_invariant_violations() RETURNS TABLE (rule text, subject text, detail text)
LANGUAGE sql STABLE AS $$
  -- Each account's balance equals the sum of its entries.
  SELECT 'balance_equals_sum', a.id::text, 'balance ' || a.balance_minor || ' but entries sum to ' || COALESCE(s.total, 0)
  FROM accounts a LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM ledger_entries GROUP BY account_id) s ON s.account_id = a.id
  WHERE a.balance_minor <> COALESCE(s.total, 0)
  UNION ALL
  -- ... and the last entry's balance_after.
  SELECT 'balance_equals_last_entry', a.id::text, 'balance ' || a.balance_minor || ' but the last entry says ' || l.balance_after_minor
  FROM accounts a JOIN LATERAL (SELECT e.balance_after_minor FROM ledger_entries e WHERE e.account_id = a.id ORDER BY e.id DESC LIMIT 1) l ON true
  WHERE a.balance_minor <> l.balance_after_minor
  UNION ALL
  -- Each entry's balance_after is the running sum.
  SELECT 'running_balance', r.id::text, 'balance_after ' || r.balance_after_minor || ' but the running sum is ' || r.running
  FROM (SELECT e.id, e.balance_after_minor, sum(e.amount_minor) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running FROM ledger_entries e) r
  WHERE r.balance_after_minor <> r.running
  UNION ALL
  -- An applied or reversed payment has exactly one credit, to its account, for its amount; others have none.
  SELECT 'payment_credited_once', p.id::text,
         'status ' || p.status || ' with ' || count(e.id) || ' credit(s)'
  FROM payments p LEFT JOIN ledger_entries e ON e.payment_id = p.id
  GROUP BY p.id, p.status
  HAVING (p.status IN ('applied', 'reversed')) <> (count(e.id) = 1) OR count(e.id) > 1
  UNION ALL
  SELECT 'payment_credit_matches', p.id::text, 'credited ' || e.amount_minor || ' to ' || e.account_id || ', payment is ' || p.amount_minor || ' for ' || COALESCE(p.account_id::text, 'no account')
  FROM payments p JOIN ledger_entries e ON e.payment_id = p.id
  WHERE e.amount_minor <> p.amount_minor OR p.account_id IS DISTINCT FROM e.account_id
  UNION ALL
  -- A reversed payment's credit is reversed; an applied one's is not.
  SELECT 'payment_reversal_state', p.id::text, 'status ' || p.status || (CASE WHEN r.id IS NULL THEN ' without' ELSE ' with' END) || ' a reversal'
  FROM payments p JOIN ledger_entries e ON e.payment_id = p.id LEFT JOIN ledger_entries r ON r.reverses_entry_id = e.id
  WHERE (p.status = 'reversed') <> (r.id IS NOT NULL)
  UNION ALL
  -- Every entry has its source.
  SELECT 'entry_has_source', e.id::text, e.entry_type || ' entry without its source'
  FROM ledger_entries e
  WHERE (e.entry_type = 'payment' AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = e.payment_id))
     OR (e.entry_type = 'reversal' AND NOT EXISTS (SELECT 1 FROM ledger_entries o WHERE o.id = e.reverses_entry_id
                                                  AND o.account_id = e.account_id AND o.amount_minor = -e.amount_minor))
     OR (e.entry_type = 'adjustment' AND COALESCE(btrim(e.reason), '') = '')
     OR (e.entry_type IN ('consumption', 'refund') AND e.source_ref IS NULL)
$$;
