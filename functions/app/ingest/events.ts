// Network events (status, join, ack, txack, log, location, integration) and ESP32 meter messages: each
// becomes a device event keyed for idempotency, updates what is known of the device, and passes
// confirmations (ack, txack, ESP32 balance reports) on to the command system. ESP32 consumption reports
// become readings.
import type { ChirpstackEvent } from '#domain/chirpstack/events';
import type { IngestDevice } from '#store/ingest/devices';
import { eventTime, iso, type BatchWriter } from './batch-writer.ts';
import type { Classified } from './classify.ts';
import { messageDigest, payloadBuffer, type InboundMessage } from './inbound.ts';
import { readingExtra } from './uplink.ts';

export function handleNetworkEvent(w: BatchWriter, msg: InboundMessage, value: Exclude<ChirpstackEvent, { type: 'up' }>, device: IngestDevice | undefined) {
  const e = value.event;
  const devEui = e.deviceInfo.devEui;
  const time = eventTime(msg, e.time);
  const base = { device_id: device?.id ?? null, dev_eui: devEui, event_type: value.type, event_time: iso(time) };
  const digest = messageDigest(msg.topic, msg.payload);
  switch (value.type) {
    case 'status': {
      const s = value.event;
      if (device) w.touchDevice(device, time, { margin: s.margin, battery_level: s.batteryLevelUnavailable || s.externalPowerSource ? null : s.batteryLevel });
      w.event(msg, { ...base, details: { margin: s.margin, batteryLevel: s.batteryLevel, batteryLevelUnavailable: s.batteryLevelUnavailable, externalPowerSource: s.externalPowerSource }, source_key: `status:${s.deduplicationId ?? digest}` });
      return;
    }
    case 'join':
      if (device) w.touchDevice(device, time, { joined_at: iso(time) });
      w.event(msg, { ...base, details: { devAddr: value.event.devAddr ?? null }, source_key: `join:${value.event.deduplicationId ?? digest}` });
      return;
    case 'ack':
      w.feedback.acks.push({ devEui, queueItemId: value.event.queueItemId, acknowledged: value.event.acknowledged, time });
      w.event(msg, { ...base, code: value.event.acknowledged ? 'ACK' : 'NACK', details: { queueItemId: value.event.queueItemId, acknowledged: value.event.acknowledged, fCntDown: value.event.fCntDown }, source_key: `ack:${value.event.queueItemId}` });
      return;
    case 'txack':
      w.feedback.txAcks.push({ devEui, queueItemId: value.event.queueItemId, time });
      w.event(msg, { ...base, details: { queueItemId: value.event.queueItemId, downlinkId: value.event.downlinkId, fCntDown: value.event.fCntDown, gatewayId: value.event.gatewayId ?? null }, source_key: `txack:${value.event.queueItemId}:${value.event.downlinkId}` });
      return;
    case 'log':
      w.event(msg, { ...base, level: value.event.level, code: value.event.code, description: value.event.description, details: value.event.context ?? null, source_key: `log:${digest}` });
      return;
    case 'location':
      w.event(msg, { ...base, details: value.event.location, source_key: `location:${value.event.deduplicationId ?? digest}` });
      return;
    case 'integration':
      w.event(msg, { ...base, code: value.event.eventType, details: { integrationName: value.event.integrationName }, source_key: `integration:${digest}` });
      return;
  }
}

/**
 * An ESP32 message, dated `at` (its timestamp, or the receive time when that was too far ahead); keyed
 * by the timestamp the meter sent, so a redelivery is the same row whenever it arrives.
 */
export function handleEsp32(w: BatchWriter, classified: Extract<Classified, { kind: 'esp32' }>, device: IngestDevice | undefined) {
  const { msg, value, at: time, clock } = classified;
  const sourceKey = `esp32:${value.meterNo}:${value.type}:${value.body.timestamp.getTime()}`;
  if (!device) {
    w.quarantineMessage({ msg, reasonCode: 'unknown_device', reason: `no ESP32 meter registered with meterNo ${value.meterNo}`, meterNo: value.meterNo, dedupKey: sourceKey });
    return;
  }
  w.touchDevice(device, time);
  switch (value.type) {
    case 'consumption': {
      if (!device.meter_id) {
        w.quarantineMessage({ msg, reasonCode: 'device_not_assigned', reason: `ESP32 ${value.meterNo} does not serve a meter`, meterNo: value.meterNo, dedupKey: sourceKey });
        return;
      }
      // The meter reports units consumed since its last report; the reading is the meter's running
      // total in the order of the meter's timestamps, computed in the database under the meter's row
      // lock (see writeConsumption).
      w.consumption.push({
        meter_id: device.meter_id,
        device_id: device.id,
        source_key: sourceKey,
        units: value.body.unitsConsumed,
        reading_date: iso(time),
        extra: readingExtra({ unitsConsumed: value.body.unitsConsumed, remainingBalance: value.body.remainingBalance ?? null, totalConsumed: value.body.totalConsumed ?? null }, [], clock),
        raw_payload: payloadBuffer(msg.payload).toString('utf8'),
      });
      w.outcomes.set(msg.id, 'reading');
      return;
    }
    case 'status':
      w.event(msg, { device_id: device.id, dev_eui: null, event_type: 'esp32_status', event_time: iso(time), code: value.body.status, description: value.body.message ?? null, details: { balance: value.body.balance ?? null, wifiRssi: value.body.wifi_rssi ?? null }, source_key: sourceKey });
      return;
    case 'balance':
      w.feedback.balanceReports.push({ meterNo: value.meterNo, deviceId: device.id, meterId: device.meter_id, balance: value.body.balance, time });
      w.event(msg, { device_id: device.id, dev_eui: null, event_type: 'esp32_balance', event_time: iso(time), details: { balance: value.body.balance }, source_key: sourceKey });
      return;
  }
}
