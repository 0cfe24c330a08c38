-- An account that runs out of credit inside friendly-credit hours is told when its supply will be
-- disconnected (credit_exhausted), not that it is being disconnected.
ALTER TABLE notifications DROP CONSTRAINT notifications_template_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_template_check
  CHECK (template IN ('payment_received', 'low_balance', 'disconnected', 'credit_exhausted', 'reconnected'));
