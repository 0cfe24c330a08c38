-- The portal's live channel asks which device commands changed since a moment (every second while a
-- browser listens): served by an index, not a scan of the command history.
CREATE INDEX device_commands_updated_idx ON device_commands (updated_at);
