-- Command dispatch state. A dispatcher claims a command (claim_token + lease in claimed_until) before it
-- sends it, so two dispatchers, or a redelivered queue message, never send it twice; dispatch_attempts
-- counts claims, so an attempt whose outcome is unknown (a timed-out enqueue, a crash) is followed by a
-- look at the network server's queue instead of a blind second enqueue. last_enqueued_at lets the sweeper
-- tell a command waiting in the queue from one lost between the database write and the queue send.
-- outcome records what decided the final status: the confirming event (txack, ack, Modbus echo, balance
-- report), a NACK or Modbus exception, a cancellation.
ALTER TABLE device_commands
  ADD COLUMN claim_token       uuid,
  ADD COLUMN claimed_until     timestamptz,
  ADD COLUMN dispatch_attempts integer NOT NULL DEFAULT 0 CHECK (dispatch_attempts >= 0),
  ADD COLUMN last_enqueued_at  timestamptz,
  ADD COLUMN outcome           jsonb;

-- The sweeper's two questions: which open commands have expired, and which are due but not in the queue.
CREATE INDEX device_commands_expiry_idx ON device_commands (expires_at)
  WHERE status IN ('pending', 'queued', 'sent');
CREATE INDEX device_commands_due_idx ON device_commands (priority, created_at)
  INCLUDE (scheduled_at, next_attempt_at, last_enqueued_at, claimed_until)
  WHERE status IN ('pending', 'queued');
