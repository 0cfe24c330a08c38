-- History that stays fast as readings accumulate (issue 12): quarter-hour rollups of every meter's
-- readings, kept exact by a trigger in the writing transaction, and a retention horizon for raw readings.
--
-- Why a quarter of an hour: every time zone in use today is offset from UTC by a multiple of 15 minutes
-- (Asia/Kolkata +05:30, Asia/Kathmandu +05:45, Australia/Eucla +08:45), so every local hour, day and month
-- boundary falls on the quarter-hour grid and a quarter belongs to exactly one local bucket. Hourly
-- rollups would not serve a half-hour zone. A window whose local boundaries leave the grid (historical
-- local mean times) is computed from raw readings instead (store/readings.ts checks).
--
-- Why a trigger and not a job with a watermark: every path that writes readings (the ingest's
-- writeReadings/writeConsumption, POST /readings, reprocessing, a late uplink that corrects the readings
-- after it) then keeps its rollups exact in the same transaction, with no window in which a rollup lags
-- the raw readings, and a reading that arrives late corrects its own quarter. It works alike on PGlite,
-- PostgreSQL and Aurora (statement-level triggers with transition tables, PostgreSQL 10+).
--
-- A quarter is recomputed from its raw readings, not incremented: exact for late, duplicate-free and
-- corrected readings. Deleting raw readings (the retention job) does not touch rollups: they are then
-- the record of those quarters (raw_pruned).

CREATE TABLE meter_reading_rollups (
  meter_id         uuid NOT NULL REFERENCES meters(id),
  -- Start of the quarter hour (UTC grid: date_bin('15 minutes', reading_date, '2000-01-01')).
  bucket           timestamptz NOT NULL,
  readings         integer NOT NULL,
  -- Readings with a cumulative value (reading_value), which consumption is taken from.
  value_readings   integer NOT NULL,
  first_value      numeric(20,6),
  last_value       numeric(20,6),
  -- Sum of the differences between consecutive valued readings both in this quarter, a drop (counter
  -- reset) counting the new value from zero; the difference from the previous quarter's last value is
  -- taken at query time, so a quarter's rollup depends on its own readings only.
  consumption      numeric NOT NULL DEFAULT 0,
  resets           integer NOT NULL DEFAULT 0,
  -- Per instantaneous field: samples, sum, min, max (avg = sum / n).
  power_n integer NOT NULL DEFAULT 0, power_sum numeric, power_min numeric(14,3), power_max numeric(14,3),
  voltage_n integer NOT NULL DEFAULT 0, voltage_sum numeric, voltage_min numeric(10,3), voltage_max numeric(10,3),
  current_n integer NOT NULL DEFAULT 0, current_sum numeric, current_min numeric(10,3), current_max numeric(10,3),
  frequency_n integer NOT NULL DEFAULT 0, frequency_sum numeric, frequency_min numeric(6,3), frequency_max numeric(6,3),
  power_factor_n integer NOT NULL DEFAULT 0, power_factor_sum numeric, power_factor_min numeric(5,3), power_factor_max numeric(5,3),
  temperature_n integer NOT NULL DEFAULT 0, temperature_sum numeric, temperature_min numeric(6,2), temperature_max numeric(6,2),
  humidity_n integer NOT NULL DEFAULT 0, humidity_sum numeric, humidity_min numeric(5,2), humidity_max numeric(5,2),
  energy_import_n integer NOT NULL DEFAULT 0, energy_import_sum numeric, energy_import_min numeric(20,6), energy_import_max numeric(20,6),
  energy_export_n integer NOT NULL DEFAULT 0, energy_export_sum numeric, energy_export_min numeric(20,6), energy_export_max numeric(20,6),
  -- The quarter's raw readings were deleted by retention: this row is the record, and is not recomputed.
  raw_pruned       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (meter_id, bucket)
);

-- The rollups of one meter's quarters in [since, until) (null: unbounded), computed from its raw readings,
-- in the table's column order. Differences are taken in the order (reading_date, id).
CREATE FUNCTION meter_reading_quarters(p_meter uuid, p_since timestamptz, p_until timestamptz)
RETURNS SETOF meter_reading_rollups LANGUAGE sql STABLE AS $$
  SELECT meter_id, bucket, count(*)::int, count(reading_value)::int,
    max(reading_value) FILTER (WHERE reading_value IS NOT NULL AND asc_n = 1),
    max(reading_value) FILTER (WHERE reading_value IS NOT NULL AND desc_n = 1),
    COALESCE(sum(CASE WHEN d >= 0 THEN d WHEN d < 0 THEN reading_value END), 0),
    (count(*) FILTER (WHERE d < 0))::int,
    count(power)::int, sum(power), min(power), max(power),
    count(voltage)::int, sum(voltage), min(voltage), max(voltage),
    count(current)::int, sum(current), min(current), max(current),
    count(frequency)::int, sum(frequency), min(frequency), max(frequency),
    count(power_factor)::int, sum(power_factor), min(power_factor), max(power_factor),
    count(temperature)::int, sum(temperature), min(temperature), max(temperature),
    count(humidity)::int, sum(humidity), min(humidity), max(humidity),
    count(energy_import)::int, sum(energy_import), min(energy_import), max(energy_import),
    count(energy_export)::int, sum(energy_export), min(energy_export), max(energy_export),
    false
  FROM (
    SELECT r.*, q.bucket,
           r.reading_value - lag(r.reading_value) OVER w AS d,
           row_number() OVER w AS asc_n,
           row_number() OVER (PARTITION BY q.bucket, r.reading_value IS NULL ORDER BY r.reading_date DESC, r.id DESC) AS desc_n
    FROM meter_readings r
    CROSS JOIN LATERAL (SELECT date_bin('15 minutes', r.reading_date, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket) q
    WHERE r.meter_id = p_meter AND r.reading_date >= COALESCE(p_since, '-infinity') AND r.reading_date < COALESCE(p_until, 'infinity')
    WINDOW w AS (PARTITION BY q.bucket, r.reading_value IS NULL ORDER BY r.reading_date, r.id)
  ) pts
  GROUP BY meter_id, bucket
$$;

-- Recompute the rollups of the given (meter, quarter) keys from the raw readings. The keys are locked
-- first (a placeholder row, then FOR UPDATE, in key order), and the quarters are then read by statements
-- that start after the locks are held: two transactions writing the same quarter take turns, and the
-- second sees the first's readings (READ COMMITTED takes a snapshot per statement). A pruned quarter
-- (raw_pruned) is left as it is; a quarter left without readings has no rollup.
CREATE FUNCTION meter_reading_rollups_refresh(keys jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO meter_reading_rollups (meter_id, bucket, readings, value_readings)
  SELECT DISTINCT k.meter_id, k.bucket, 0, 0 FROM jsonb_to_recordset(keys) AS k(meter_id uuid, bucket timestamptz)
  ORDER BY 1, 2
  ON CONFLICT (meter_id, bucket) DO NOTHING;
  PERFORM 1 FROM meter_reading_rollups r
  WHERE (r.meter_id, r.bucket) IN (SELECT k.meter_id, k.bucket FROM jsonb_to_recordset(keys) AS k(meter_id uuid, bucket timestamptz))
  ORDER BY r.meter_id, r.bucket
  FOR UPDATE;
  DELETE FROM meter_reading_rollups t
  USING jsonb_to_recordset(keys) AS k(meter_id uuid, bucket timestamptz)
  WHERE t.meter_id = k.meter_id AND t.bucket = k.bucket AND NOT t.raw_pruned;
  INSERT INTO meter_reading_rollups
  SELECT q.* FROM (SELECT DISTINCT k.meter_id, k.bucket FROM jsonb_to_recordset(keys) AS k(meter_id uuid, bucket timestamptz)) k
  CROSS JOIN LATERAL meter_reading_quarters(k.meter_id, k.bucket, k.bucket + interval '15 minutes') q
  ON CONFLICT (meter_id, bucket) DO NOTHING;
END $$;

-- Rebuild every meter's rollups for [since, until) (null: unbounded) from the raw readings, set-based:
-- the backfill below, and a bulk load that ran with the triggers disabled. Blocks concurrent writers of
-- readings meanwhile (their triggers wait for the table lock).
CREATE FUNCTION meter_reading_rollups_rebuild(p_since timestamptz, p_until timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  since timestamptz := date_bin('15 minutes', p_since, TIMESTAMPTZ '2000-01-01 00:00:00+00');
  until timestamptz := date_bin('15 minutes', p_until + interval '15 minutes' - interval '1 microsecond', TIMESTAMPTZ '2000-01-01 00:00:00+00');
  n bigint;
BEGIN
  LOCK TABLE meter_reading_rollups IN SHARE ROW EXCLUSIVE MODE;
  DELETE FROM meter_reading_rollups
  WHERE NOT raw_pruned AND bucket >= COALESCE(since, '-infinity') AND bucket < COALESCE(until, 'infinity');
  INSERT INTO meter_reading_rollups
  SELECT q.* FROM meters m CROSS JOIN LATERAL meter_reading_quarters(m.id, since, until) q
  ON CONFLICT (meter_id, bucket) DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE FUNCTION meter_readings_rollup_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM meter_reading_rollups_refresh(COALESCE(
    (SELECT jsonb_agg(DISTINCT jsonb_build_object('meter_id', meter_id, 'bucket', date_bin('15 minutes', reading_date, TIMESTAMPTZ '2000-01-01 00:00:00+00')))
     FROM new_rows), '[]'::jsonb));
  RETURN NULL;
END $$;

CREATE FUNCTION meter_readings_rollup_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM meter_reading_rollups_refresh(COALESCE(
    (SELECT jsonb_agg(DISTINCT jsonb_build_object('meter_id', meter_id, 'bucket', date_bin('15 minutes', reading_date, TIMESTAMPTZ '2000-01-01 00:00:00+00')))
     FROM (SELECT meter_id, reading_date FROM new_rows UNION SELECT meter_id, reading_date FROM old_rows) c), '[]'::jsonb));
  RETURN NULL;
END $$;

CREATE TRIGGER meter_readings_rollup_insert AFTER INSERT ON meter_readings
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meter_readings_rollup_new();
CREATE TRIGGER meter_readings_rollup_update AFTER UPDATE ON meter_readings
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meter_readings_rollup_changed();

-- The readings stored before this migration.
SELECT meter_reading_rollups_rebuild(NULL, NULL);
