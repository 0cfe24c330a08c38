import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markOfflineMeters } from '#app/jobs/offline-meters';
import { logger } from '#shared/logger';
import { createMeter } from '#app/registry/registry';
import { openTestDb, type TestDb } from '../support/db.ts';
import { randomEui } from '../support/chirpstack.ts';

let testDb: TestDb;
const actor = { principal: { subject: 'test', roles: ['admin' as const] } };
beforeAll(async () => {
  logger.setLogLevel('SILENT');
  testDb = await openTestDb();
});
afterAll(async () => {
  await testDb.close();
});

describe('offline meters job', () => {
  it('marks a meter offline after three missed uplinks, and only then', async () => {
    const now = new Date('2026-11-10T12:00:00Z');
    const make = async (lastSeenMinutesAgo: number) => {
      const { meter, device } = await createMeter(testDb.db, { meterNo: `O${randomEui().slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_uc100', devEui: randomEui(), lifecycle: 'active', expectedUplinkIntervalS: 600 } }, actor, now);
      await testDb.db.updateTable('devices').set({ last_seen_at: new Date(now.getTime() - lastSeenMinutesAgo * 60_000) }).where('id', '=', device!.id).execute();
      await testDb.db.updateTable('meters').set({ communication_status: 'online' }).where('id', '=', meter.id).execute();
      return meter;
    };
    const silent = await make(31);
    const recent = await make(29);

    const { markedOffline } = await markOfflineMeters({ db: testDb.db, logger }, now);

    expect(markedOffline).toContain(silent.meter_no);
    expect(markedOffline).not.toContain(recent.meter_no);
    const again = await markOfflineMeters({ db: testDb.db, logger }, now);
    expect(again.markedOffline).toEqual([]);
  });
});
