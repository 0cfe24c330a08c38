-- Readings over HTTP and history at scale. A meter's readings, its consumption and its series are read
-- through meter_readings_meter_date_idx (meter_id, reading_date DESC), so their cost follows the meter's
-- readings in the window, not the table's size. GET /readings without a meter (the seed's newest readings
-- of every meter) needs the readings in time order across meters: this index, instead of a sort of the
-- whole table.
CREATE INDEX meter_readings_date_idx ON meter_readings (reading_date DESC);
