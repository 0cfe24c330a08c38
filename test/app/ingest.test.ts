// The ingestion handler on a real database: decoding, readings, duplicates, quarantine, network events,
// counters and parking. Runs on PostgreSQL when DATABASE_URL is set, PGlite otherwise, through the local
// driver and through the RDS Data API as the deployed Lambda reaches it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchFeedback } from '#domain/commands';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import { createDevice, createMeter } from '#app/registry/registry';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { inbound, randomEui, upEvent, upMessage, upTopic } from '../support/chirpstack.ts';

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('ingestion of ChirpStack uplinks via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let deps: IngestDeps;
  const feedback: BatchFeedback[] = [];
  const created: string[] = [];
  const actor = { principal: { subject: 'test', roles: ['admin' as const] } };

  beforeAll(async () => {
    testDb = await open();
    logger.setLogLevel('SILENT');
    deps = {
      db: testDb.db,
      logger,
      now: () => new Date(),
      commandExpiryHours: 48,
      onFeedback: async (f) => void feedback.push(f),
      onCommandsCreated: async (ids) => void created.push(...ids),
    };
  });
  afterAll(async () => {
    await testDb.close();
  });

  async function em300Meter(pulsesPerUnit = 1000) {
    const devEui = randomEui();
    const { meter, device } = await createMeter(testDb.db, { meterNo: `E${devEui.slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_em300_di', devEui, lifecycle: 'active', config: { pulsesPerUnit } } }, actor, new Date());
    return { devEui, meter, device: device! };
  }


    it('decodes an EM300-DI uplink into a reading and updates the meter and device', async () => {
      const { devEui, meter, device } = await em300Meter(800);
      const time = new Date('2026-11-01T10:00:00.000Z');

      const result = await ingestBatch(deps, [upMessage({ devEui, fPort: 85, hex: '01755c05c8' + '00010000', fCnt: 7, time, rssi: -70, snr: 9 })]);

      expect(result).toMatchObject({ readings: 1, quarantined: 0, retry: [] });
      const reading = await testDb.db.selectFrom('meter_readings').selectAll().where('meter_id', '=', meter.id).executeTakeFirstOrThrow();
      expect(reading).toMatchObject({ pulse_count: 256, reading_value: 0.32, battery_level: 92, rssi: -70, snr: 9, f_cnt: 7, reading_type: 'automatic', raw_payload: '01755c05c800010000' });
      expect(reading.reading_date.toISOString()).toBe(time.toISOString());
      const m = await testDb.db.selectFrom('meters').selectAll().where('id', '=', meter.id).executeTakeFirstOrThrow();
      expect(m).toMatchObject({ communication_status: 'online', last_reading: 0.32 });
      const d = await testDb.db.selectFrom('devices').selectAll().where('id', '=', device.id).executeTakeFirstOrThrow();
      expect(d.last_seen_at?.toISOString()).toBe(time.toISOString());
      expect(d.last_f_cnt).toBe(7);
    });

    it('writes nothing new for a redelivered uplink (same deduplicationId, or same DevEUI + fCnt + time)', async () => {
      const { devEui, meter } = await em300Meter();
      const time = new Date('2026-11-01T11:00:00.000Z');
      const event = upEvent({ devEui, fPort: 85, hex: '01755c05c800010000', fCnt: 3, time });
      await ingestBatch(deps, [inbound(upTopic(devEui), event)]);

      const again = await ingestBatch(deps, [inbound(upTopic(devEui), event), inbound(upTopic(devEui), { ...event, deduplicationId: crypto.randomUUID() })]);

      expect(again.readings).toBe(0);
      const rows = await testDb.db.selectFrom('meter_readings').select('id').where('meter_id', '=', meter.id).execute();
      expect(rows).toHaveLength(1);
    });

    it('keeps consumption from going negative when the pulse counter resets', async () => {
      const { devEui, meter } = await em300Meter(1000);
      const t = (m: number) => new Date(Date.UTC(2026, 10, 2, 0, m));

      await ingestBatch(deps, [
        upMessage({ devEui, fPort: 85, hex: '05c8' + '88130000', fCnt: 1, time: t(0) }),
        upMessage({ devEui, fPort: 85, hex: '05c8' + '0a000000', fCnt: 2, time: t(10) }),
      ]);

      const values = (await testDb.db.selectFrom('meter_readings').select('reading_value').where('meter_id', '=', meter.id).orderBy('reading_date').execute()).map((r) => r.reading_value);
      expect(values).toEqual([5, 5.01]);
    });

    it('quarantines an uplink from an unregistered device with its reason, once', async () => {
      const devEui = randomEui();
      const message = upMessage({ devEui, fPort: 85, hex: '01755c' });

      const first = await ingestBatch(deps, [message]);
      await ingestBatch(deps, [message]);

      expect(first.quarantined).toBe(1);
      const items = await testDb.db.selectFrom('quarantine').selectAll().where('dev_eui', '=', devEui).execute();
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ reason_code: 'unknown_device', status: 'new', attempts: 1 });
      expect(JSON.parse(items[0]!.payload)).toMatchObject({ deviceInfo: { devEui } });
    });

    it('quarantines an undecodable payload and a malformed event without failing the batch', async () => {
      const { devEui } = await em300Meter();
      const good = upMessage({ devEui, fPort: 85, hex: '01755c' });

      const result = await ingestBatch(deps, [
        upMessage({ devEui, fPort: 85, hex: 'ff' }),
        inbound(upTopic(devEui), '{"deviceInfo": '),
        inbound(upTopic(devEui), { deviceInfo: { devEui }, fPort: 'x' }),
        good,
      ]);

      expect(result.retry).toEqual([]);
      expect(result.quarantined).toBe(3);
      const reasons = (await testDb.db.selectFrom('quarantine').select('reason_code').where('dev_eui', '=', devEui).execute()).map((r) => r.reason_code).sort();
      expect(reasons).toEqual(['decode_error', 'malformed_event', 'malformed_json']);
    });

    it('records status, join and log events and hands acks to the command system', async () => {
      const { devEui, device } = await em300Meter();
      const base = { deviceInfo: { applicationId: 'a', devEui }, time: '2026-11-03T00:00:00Z' };

      await ingestBatch(deps, [
        inbound(upTopic(devEui, 'status'), { ...base, deduplicationId: crypto.randomUUID(), margin: 10, batteryLevel: 88.5 }),
        inbound(upTopic(devEui, 'join'), { ...base, deduplicationId: crypto.randomUUID(), devAddr: '01020304' }),
        inbound(upTopic(devEui, 'log'), { ...base, level: 'ERROR', code: 'UPLINK_CODEC', description: 'codec failed' }),
        inbound(upTopic(devEui, 'txack'), { ...base, downlinkId: 5, queueItemId: 'q-1', fCntDown: 2 }),
        inbound(upTopic(devEui, 'ack'), { ...base, queueItemId: 'q-1', acknowledged: true, fCntDown: 2 }),
      ]);

      const events = await testDb.db.selectFrom('device_events').selectAll().where('device_id', '=', device.id).orderBy('event_type').execute();
      expect(events.map((e) => e.event_type)).toEqual(['ack', 'join', 'log', 'status', 'txack']);
      expect(events.find((e) => e.event_type === 'log')).toMatchObject({ level: 'ERROR', code: 'UPLINK_CODEC' });
      const d = await testDb.db.selectFrom('devices').selectAll().where('id', '=', device.id).executeTakeFirstOrThrow();
      expect(d).toMatchObject({ battery_level: 88.5, margin: 10 });
      expect(d.joined_at).not.toBeNull();
      const last = feedback.at(-1);
      expect(last?.txAcks).toEqual([expect.objectContaining({ devEui, queueItemId: 'q-1' })]);
      expect(last?.acks).toEqual([expect.objectContaining({ queueItemId: 'q-1', acknowledged: true })]);
    });

    it('updates a parking space on an occupancy change and queues the display actuation', async () => {
      const sensorEui = randomEui();
      const displayEui = randomEui();
      const sensor = await createDevice(testDb.db, { deviceType: 'browan_tabs', devEui: sensorEui, lifecycle: 'active' }, actor, new Date());
      const display = await createDevice(testDb.db, { deviceType: 'kuando_busylight', devEui: displayEui, lifecycle: 'active' }, actor, new Date());
      const space = await testDb.db.insertInto('parking_spaces').values({ code: `P-${sensorEui}`, name: 'Bay 1', sensor_device_id: sensor.id, display_device_id: display.id }).returningAll().executeTakeFirstOrThrow();
      // Browan TABS occupied frame (TTN lorawan-devices vendor/browan/tbms100-codec.yaml example 'Occupied').
      const occupied = upMessage({ devEui: sensorEui, fPort: 102, hex: '01BB340400DC7801', time: new Date('2026-11-04T08:00:00Z') });

      await ingestBatch(deps, [occupied]);
      await ingestBatch(deps, [occupied]);

      const s = await testDb.db.selectFrom('parking_spaces').selectAll().where('id', '=', space.id).executeTakeFirstOrThrow();
      expect(s).toMatchObject({ current_state: 'OCCUPIED', sensor_state: 'occupied' });
      const commands = await testDb.db.selectFrom('device_commands').selectAll().where('device_id', '=', display.id).execute();
      expect(commands).toHaveLength(1);
      expect(commands[0]).toMatchObject({ command_type: 'display', payload_hex: 'ff00006400', f_port: 15, status: 'pending' });
      const actuation = await testDb.db.selectFrom('actuations').selectAll().where('space_id', '=', space.id).executeTakeFirstOrThrow();
      expect(actuation).toMatchObject({ trigger_type: 'sensor_uplink', previous_state: 'FREE', new_state: 'OCCUPIED', display_code: 'ff00006400', fport: 15, command_id: commands[0]!.id });
      expect(created).toContain(commands[0]!.id);
    });

    it('queues two display changes of one space in one batch in the order they happened', async () => {
      const sensorEui = randomEui();
      const sensor = await createDevice(testDb.db, { deviceType: 'browan_tabs', devEui: sensorEui, lifecycle: 'active' }, actor, new Date());
      const display = await createDevice(testDb.db, { deviceType: 'kuando_busylight', devEui: randomEui(), lifecycle: 'active' }, actor, new Date());
      await testDb.db.insertInto('parking_spaces').values({ code: `P-${sensorEui}`, name: 'Bay 2', sensor_device_id: sensor.id, display_device_id: display.id }).execute();

      // Occupied, then free (status byte 0x00) ten seconds later, both in one backlog batch.
      await ingestBatch(deps, [
        upMessage({ devEui: sensorEui, fPort: 102, hex: '00BB340400DC7801', time: new Date('2026-11-04T09:00:10Z') }),
        upMessage({ devEui: sensorEui, fPort: 102, hex: '01BB340400DC7801', time: new Date('2026-11-04T09:00:00Z') }),
      ]);

      const commands = await testDb.db.selectFrom('device_commands').select(['payload_hex', 'created_at']).where('device_id', '=', display.id).orderBy('created_at').execute();
      expect(commands.map((c) => c.payload_hex)).toEqual(['ff00006400', '0000ff6400']);
    });

    async function esp32Meter() {
      const meterNo = `ESP${randomEui().slice(0, 10)}`;
      const { meter } = await createMeter(testDb.db, { meterNo, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'esp32_meter', meterNo, lifecycle: 'active' } }, actor, new Date());
      return { meterNo, meter };
    }
    const consumption = (meterNo: string, units: number, timestamp: number) =>
      inbound(`smartmeter/${meterNo}/consumption`, { meterNo, unitsConsumed: units, remainingBalance: 5, totalConsumed: units, timestamp });

    it('quarantines the one message whose values the database refuses and stores the rest of the batch', async () => {
      const { meterNo, meter } = await esp32Meter();
      const { devEui, meter: em300 } = await em300Meter();

      // 1e20 units does not fit numeric(20,6): PostgreSQL refuses it (22003) for the whole statement.
      const result = await ingestBatch(deps, [
        consumption(meterNo, 1, 1_790_000_000_000),
        consumption(meterNo, 1e20, 1_790_000_060_000),
        upMessage({ devEui, fPort: 85, hex: '01755c05c800010000', fCnt: 1 }),
      ]);

      expect(result.retry).toEqual([]);
      const uplink = await testDb.db.selectFrom('meter_readings').select('pulse_count').where('meter_id', '=', em300.id).execute();
      expect(uplink).toEqual([{ pulse_count: 256 }]);
      const rejected = await testDb.db.selectFrom('quarantine').selectAll().where('meter_no', '=', meterNo).executeTakeFirstOrThrow();
      expect(rejected.reason_code).toBe('write_rejected');
      const stored = await testDb.db.selectFrom('meter_readings').select('reading_value').where('meter_id', '=', meter.id).execute();
      expect(stored.map((r) => r.reading_value)).toEqual([1]);
    });

    it('counts an ESP32 report delivered twice in one batch once', async () => {
      const { meterNo, meter } = await esp32Meter();

      await ingestBatch(deps, [consumption(meterNo, 2, 1_790_000_000_000), consumption(meterNo, 2, 1_790_000_000_000), consumption(meterNo, 1, 1_790_000_060_000)]);

      const m = await testDb.db.selectFrom('meters').select('last_reading').where('id', '=', meter.id).executeTakeFirstOrThrow();
      expect(m.last_reading).toBe(3);
    });

    it('keeps an ESP32 meter total exact across batches, redeliveries and reports out of order', async () => {
      const { meterNo, meter } = await esp32Meter();

      await Promise.all([
        ingestBatch(deps, [consumption(meterNo, 1, 1_790_000_060_000), consumption(meterNo, 2, 1_790_000_120_000)]),
        ingestBatch(deps, [consumption(meterNo, 4, 1_790_000_000_000)]),
      ]);
      await ingestBatch(deps, [consumption(meterNo, 2, 1_790_000_120_000), consumption(meterNo, 8, 1_790_000_180_000)]);

      const m = await testDb.db.selectFrom('meters').select('last_reading').where('id', '=', meter.id).executeTakeFirstOrThrow();
      expect(m.last_reading).toBe(15);
    });

    it('quarantines an ESP32 report whose timestamp is not a date', async () => {
      const { meterNo } = await esp32Meter();

      const result = await ingestBatch(deps, [consumption(meterNo, 1, 9e15)]);

      expect(result.retry).toEqual([]);
      const item = await testDb.db.selectFrom('quarantine').selectAll().where('meter_no', '=', meterNo).executeTakeFirstOrThrow();
      expect(item.reason_code).toBe('malformed_message');
    });

    it('keeps a payload with a NUL byte exactly, as base64', async () => {
      const devEui = randomEui();
      const payload = Buffer.from('{"deviceInfo":{"devEui":"' + devEui + '"}}\0');

      await ingestBatch(deps, [{ id: 'nul-1', topic: upTopic(devEui), payload, receivedAt: new Date(), source: 'mqtt' }]);

      const item = await testDb.db.selectFrom('quarantine').selectAll().where('dev_eui', '=', devEui).executeTakeFirstOrThrow();
      expect(item.payload_encoding).toBe('base64');
      expect(Buffer.from(item.payload, 'base64').equals(payload)).toBe(true);
    });
});
