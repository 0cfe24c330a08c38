-- A C2B confirmation (the hot path: every M-Pesa paybill payment, each delivered possibly several times) in one call, so in the
-- cloud it is one Data API request instead of three (raw insert, payment_record, settle):
-- daraja_callback_record stores the body raw, records and credits the payment with payment_record, and
-- settles the callback row with its outcome, in one transaction. When payment_record refuses (raises),
-- the raw row is kept as 'received' with the error as its reason, and out_error_state/out_error say
-- why: the caller answers as it would have to that error (never 2xx), and Daraja retries. Nothing about the payment changes: the receipt is still the key, a
-- repeat never credits again, concurrent repeats serialize on payments' unique key.
--
-- Outcomes, as the application set them before: a repeat with another amount is a 'conflict' (reason:
-- both amounts), a new receipt 'processed', a repeat 'duplicate'. STK callbacks keep their separate calls
-- (their request is looked up after the raw row is stored).
CREATE FUNCTION daraja_callback_record(
  p_body text,
  p_source_ip text,
  p_at timestamptz,
  p_provider text,
  p_receipt text,
  p_channel text,
  p_amount_minor bigint,
  p_currency text,
  p_phone text,
  p_reference text,
  p_transacted_at timestamptz,
  p_raw jsonb
) RETURNS TABLE (out_callback_id uuid, out_outcome text, out_error_state text, out_error text, out_payment_id uuid, out_status text,
                 out_account_id uuid, out_balance_after_minor bigint, out_created boolean, out_amount_minor bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_callback uuid;
  v_rec      record;
  v_outcome  text;
  v_reason   text;
BEGIN
  INSERT INTO daraja_callbacks (kind, body, source_ip, receipt, outcome)
  VALUES ('c2b_confirmation', p_body, p_source_ip, p_receipt, 'received')
  RETURNING id INTO v_callback;
  BEGIN
    SELECT * INTO v_rec FROM payment_record(p_provider, p_receipt, p_channel, p_amount_minor, p_currency, p_phone, p_reference,
                                            p_transacted_at, p_raw, NULL, NULL);
  EXCEPTION WHEN OTHERS THEN
    -- Only the payment's work is rolled back: the raw callback stays, with why it was not processed.
    UPDATE daraja_callbacks SET reason = left('not processed: ' || SQLSTATE || ' ' || SQLERRM, 500) WHERE id = v_callback;
    RETURN QUERY SELECT v_callback, 'received'::text, SQLSTATE::text, SQLERRM::text, NULL::uuid, NULL::text, NULL::uuid, NULL::bigint, false, NULL::bigint;
    RETURN;
  END;
  IF NOT v_rec.out_created AND v_rec.out_amount_minor <> p_amount_minor THEN
    v_outcome := 'conflict';
    v_reason := 'receipt ' || p_receipt || ' was recorded with ' || v_rec.out_amount_minor || ', this callback says ' || p_amount_minor;
  ELSE
    v_outcome := CASE WHEN v_rec.out_created THEN 'processed' ELSE 'duplicate' END;
  END IF;
  UPDATE daraja_callbacks SET outcome = v_outcome, reason = v_reason, payment_id = v_rec.out_payment_id, processed_at = p_at
  WHERE id = v_callback;
  RETURN QUERY SELECT v_callback, v_outcome, NULL::text, NULL::text, v_rec.out_payment_id, v_rec.out_status, v_rec.out_account_id,
    v_rec.out_balance_after_minor, v_rec.out_created, v_rec.out_amount_minor;
END $$;
