-- An STK callback can reach us before the answer to its STK Push has been stored (the CheckoutRequestID is
-- in that answer): such a callback is kept 'received' with its CheckoutRequestID and applied once the
-- request has it (right after the push's answer is stored, and by the stk_query job's sweep). This index
-- finds them by CheckoutRequestID and by age.
CREATE INDEX daraja_callbacks_deferred_stk_idx ON daraja_callbacks (checkout_request_id, received_at)
  WHERE kind = 'stk_callback' AND outcome = 'received';
