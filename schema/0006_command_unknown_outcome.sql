-- An attempt whose outcome is unknown (ChirpStack answered 5xx/429 or an unreadable 2xx, the request
-- timed out or the connection dropped mid-request) may have left the downlink in the network server's
-- queue. delivery_state 'unknown' says so: on a queued command, an earlier attempt may have reached
-- ChirpStack (the next attempt lists the device queue before enqueueing); on a sent command, the last
-- attempt's outcome is unknown and the dispatcher lists the device queue at next_attempt_at to adopt the
-- item or, finding none, fail the command. It is never reported failed while the item may be queued.
ALTER TABLE device_commands DROP CONSTRAINT device_commands_delivery_state_check;
ALTER TABLE device_commands ADD CONSTRAINT device_commands_delivery_state_check
  CHECK (delivery_state IN ('awaiting_device', 'transmitted', 'acknowledged', 'published', 'nacked', 'unknown'));

-- The sweeper's third question: which sent commands of unknown outcome are due for a look at the queue.
CREATE INDEX device_commands_unknown_idx ON device_commands (next_attempt_at)
  WHERE status = 'sent' AND delivery_state = 'unknown';
