-- The portal's live feed reads payments changed since a moment (functions/store/changes.ts): payments are
-- history, so that read needs an index on updated_at, as device_commands has.
CREATE INDEX payments_updated_idx ON payments (updated_at);
