// The devices a batch of inbound messages mentions, loaded with one query together with the meter and
// parking space each currently serves (ingestion's only read).
import { sql } from 'kysely';
import { json, type Executor } from '#store/db';

/** A registered device as ingestion needs it, with the meter and parking space it currently serves. */
export interface IngestDevice {
  id: string;
  dev_eui: string | null;
  meter_no: string | null;
  device_type: string;
  decoder: string;
  config: Record<string, unknown>;
  lifecycle: string;
  meter_id: string | null;
  meter_no_of_meter: string | null;
  space_id: string | null;
  space_state: string | null;
  space_sensor_state: string | null;
  display_device_id: string | null;
  display_dev_eui: string | null;
  display_config: Record<string, unknown> | null;
}

/** One query for every device a batch mentions, by DevEUI (LoRaWAN) or meter number (ESP32). */
export async function loadDevices(db: Executor, devEuis: string[], meterNos: string[]): Promise<IngestDevice[]> {
  if (devEuis.length === 0 && meterNos.length === 0) return [];
  const result = await sql<IngestDevice>`
    SELECT d.id, d.dev_eui, d.meter_no, d.device_type, d.decoder, d.config, d.lifecycle,
           md.meter_id, m.meter_no AS meter_no_of_meter,
           ps.id AS space_id, ps.current_state AS space_state, ps.sensor_state AS space_sensor_state,
           ps.display_device_id, disp.dev_eui AS display_dev_eui, disp.config AS display_config
    FROM devices d
    LEFT JOIN meter_current_device md ON md.device_id = d.id
    LEFT JOIN meters m ON m.id = md.meter_id
    LEFT JOIN parking_spaces ps ON ps.sensor_device_id = d.id
    LEFT JOIN devices disp ON disp.id = ps.display_device_id
    WHERE d.dev_eui IN (SELECT jsonb_array_elements_text(${json(devEuis)}))
       OR d.meter_no IN (SELECT jsonb_array_elements_text(${json(meterNos)}))`.execute(db);
  return result.rows;
}

