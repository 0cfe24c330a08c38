-- Counters that order can't poison (issue 8): a pulse counter's offset is kept on each reading, so a late
-- uplink takes the offset of its place in the device's series (ordered by reading_date, then fCnt) and the
-- readings after it can be recomputed from their neighbours, whatever the order of arrival.
ALTER TABLE meter_readings ADD COLUMN counter_offset bigint;

-- Readings stored before this migration: the offset their value implies (value * pulsesPerUnit - count).
UPDATE meter_readings r
SET counter_offset = GREATEST(0, round(r.reading_value * COALESCE(
      CASE WHEN d.config ->> 'pulsesPerUnit' ~ '^[0-9]+(\.[0-9]+)?$' AND (d.config ->> 'pulsesPerUnit')::numeric > 0
           THEN (d.config ->> 'pulsesPerUnit')::numeric END, 1000)) - r.pulse_count)
FROM devices d
WHERE d.id = r.device_id AND r.pulse_count IS NOT NULL AND r.reading_value IS NOT NULL;

-- A device's counter readings in its order: the reading before a late one, and those after it.
CREATE INDEX meter_readings_device_counter_idx ON meter_readings (device_id, reading_date)
  WHERE pulse_count IS NOT NULL;
