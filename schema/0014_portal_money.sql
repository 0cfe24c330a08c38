-- The portal's money pages: today's consumption on the overview reads consumption entries by time, and
-- the audit log is read newest first (filtered by actor or action, or not at all).
CREATE INDEX ledger_entries_consumption_created_idx ON ledger_entries (created_at) WHERE entry_type = 'consumption';
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, created_at DESC);
