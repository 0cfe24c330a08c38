-- "The current device of a meter", written once: the meter_devices row with no end. A meter has at most
-- one (meter_devices_current_meter), and a device serves at most one meter at a time (meter_devices_current_device).
CREATE VIEW meter_current_device AS
SELECT meter_id, device_id, valid_from
FROM meter_devices
WHERE valid_to IS NULL;
