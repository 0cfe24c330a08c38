// The seed's readings API (POST/GET /readings, GET /readings/{meter_id}) and a meter's history
// (consumption and series, JSON and CSV), through the handler the Lambda runs, on the database driver
// and through the RDS Data API. The collector role may post readings and nothing else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, createApiHandler } from '#app/api/index';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

const uniqueNo = () => `M${Math.random().toString(36).slice(2, 10)}`;
type Item = Record<string, unknown>;
const items = (body: Record<string, unknown>) => body.items as Item[];

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('readings API via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;
  const now = new Date('2026-03-12T12:00:00Z');

  beforeAll(async () => {
    testDb = await open();
    logger.setLogLevel('SILENT');
    const handler = createApiHandler({ db: testDb.db, logger, now: () => now, healthChecks: {}, ingest: async () => { throw new Error('not used'); }, commandQueue: { enqueue: async () => undefined } });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterAll(async () => {
    await testDb.close();
  });

  async function sdmMeter(siteTimezone?: string): Promise<{ id: string; meterNo: string }> {
    let siteId: string | undefined;
    if (siteTimezone) {
      const site = await call({ method: 'POST', path: '/sites', role: 'operator', body: { code: uniqueNo(), name: 'Estate', timezone: siteTimezone } });
      siteId = String(site.body.id);
    }
    const meterNo = uniqueNo();
    const created = await call({
      method: 'POST', path: '/meters', role: 'operator',
      body: { meterNo, meterType: 'electricity', ...(siteId ? { siteId } : {}), device: { deviceType: 'sdm630_modbus_tcp', config: { slaveId: 3 } } },
    });
    expect(created.status).toBe(201);
    return { id: String(created.body.id), meterNo };
  }

  it('stores a reading in the seed shape by meter number and shows it through GET /readings and the meter', async () => {
    const meter = await sdmMeter();

    const posted = await call({ method: 'POST', path: '/readings', role: 'operator', body: { meter_id: meter.meterNo, voltage: 230.5, current: 5.2, power: 1200.0, energy: 1500.0, timestamp: '2026-03-12T11:59:00Z' } });

    expect(posted.status).toBe(200);
    expect(posted.body).toMatchObject({ received: 1, stored: 1, duplicates: 0, quarantined: 0 });
    const list = await call({ method: 'GET', path: '/readings', role: 'viewer', query: { meter_id: meter.meterNo } });
    expect(items(list.body)).toHaveLength(1);
    expect(items(list.body)[0]).toMatchObject({ meterId: meter.id, meterNo: meter.meterNo, voltage: 230.5, current: 5.2, power: 1200, energyImport: 1500, readingValue: 1500, readingDate: '2026-03-12T11:59:00.000Z' });
    const byPath = await call({ method: 'GET', path: `/readings/${meter.id}`, role: 'viewer' });
    expect(items(byPath.body)).toHaveLength(1);
    const fetched = await call({ method: 'GET', path: `/meters/${meter.id}`, role: 'viewer' });
    expect(fetched.body).toMatchObject({ communicationStatus: 'online', lastReading: 1500, lastReadingDate: '2026-03-12T11:59:00.000Z' });
  });

  it('lists one meter newest first by id or number, limited and windowed, the id winning over a number that spells it; an unknown meter is a 404', async () => {
    // Prepare: meter B's number is meter A's id
    const a = await sdmMeter();
    const b = { meterNo: a.id };
    const createdB = await call({ method: 'POST', path: '/meters', role: 'operator', body: { meterNo: b.meterNo, meterType: 'electricity', device: { deviceType: 'sdm630_modbus_tcp', config: { slaveId: 4 } } } });
    expect(createdB.status).toBe(201);
    const at = (minute: number) => `2026-03-12T10:${String(minute).padStart(2, '0')}:00Z`;
    await call({ method: 'POST', path: '/readings', role: 'operator', body: [1, 2, 3, 4].map((m) => ({ meter_id: a.meterNo, energy: 100 + m, timestamp: at(m) })) });
    await call({ method: 'POST', path: '/readings', role: 'operator', body: { meter_id: String(createdB.body.id), energy: 7, timestamp: at(5) } });

    // Act
    const byId = await call({ method: 'GET', path: `/readings/${a.id}`, role: 'viewer', query: { limit: '2' } });
    const windowed = await call({ method: 'GET', path: `/readings/${a.meterNo}`, role: 'viewer', query: { from: at(2), to: at(4) } });
    const unknown = await call({ method: 'GET', path: '/readings/NO-SUCH-METER', role: 'viewer' });
    const empty = await call({ method: 'GET', path: `/readings/${a.meterNo}`, role: 'viewer', query: { from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' } });

    // Assess
    expect(items(byId.body).map((r) => r.readingValue)).toEqual([104, 103]);
    expect(items(byId.body).every((r) => r.meterId === a.id && r.meterNo === a.meterNo)).toBe(true);
    expect(items(windowed.body).map((r) => r.readingValue)).toEqual([103, 102]);
    expect(unknown.status).toBe(404);
    expect(empty.status).toBe(200);
    expect(items(empty.body)).toEqual([]);
  });

  it('stores a collector batch once: the same meter and timestamp posted again is a duplicate', async () => {
    const meter = await sdmMeter();
    const batch = [0, 1, 2].map((i) => ({
      meterId: meter.id, timestamp: new Date(Date.UTC(2026, 2, 12, 11, i)).toISOString(), voltage: 231, current: 4, power: 2700, powerFactor: 0.95,
      frequency: 50.01, energyImport: 100 + i, energyExport: 0.5, energyTotal: 100.5 + i, model: 'SDM630', slaveId: 3, gateway: 'gw',
      phases: { voltageL1: 231, voltageL2: 232, voltageL3: 229 }, ...(i === 2 ? { flags: ['nan:powerFactorL3'] } : {}),
    }));

    const first = await call({ method: 'POST', path: '/readings', role: 'collector', body: { readings: batch } });
    const again = await call({ method: 'POST', path: '/readings', role: 'collector', body: { readings: [...batch].reverse() } });

    expect(first.body).toMatchObject({ received: 3, stored: 3, duplicates: 0 });
    expect(again.body).toMatchObject({ received: 3, stored: 0, duplicates: 3 });
    const list = items((await call({ method: 'GET', path: `/readings/${meter.meterNo}`, role: 'viewer' })).body);
    expect(list.map((r) => r.readingValue)).toEqual([102, 101, 100]);
    expect(list[0]?.extra).toMatchObject({ flags: ['nan:powerFactorL3'], phases: { voltageL2: 232 }, energyTotalKwh: 102.5, slaveId: 3 });
  });

  it('quarantines a reading for a meter nobody registered and stores the rest of the batch', async () => {
    const meter = await sdmMeter();
    const unknown = uniqueNo();

    const posted = await call({
      method: 'POST', path: '/readings', role: 'collector',
      body: [{ meter_id: meter.meterNo, energy: 5, timestamp: '2026-03-12T10:00:00Z' }, { meter_id: unknown, energy: 7, timestamp: '2026-03-12T10:00:00Z' }],
    });

    expect(posted.body).toMatchObject({ received: 2, stored: 1, quarantined: 1 });
    const q = await call({ method: 'GET', path: '/quarantine', role: 'viewer', query: { reasonCode: 'unknown_meter' } });
    const mine = items(q.body).filter((i) => String(i.payload).includes(unknown));
    expect(mine).toHaveLength(1);
  });

  it('stores a quarantined reading at its own time once its meter is registered and it is reprocessed', async () => {
    const meterNo = uniqueNo();
    await call({ method: 'POST', path: '/readings', role: 'collector', body: { meter_id: meterNo, energy: 42, voltage: 229 } });
    const [item] = items((await call({ method: 'GET', path: '/quarantine', role: 'viewer', query: { reasonCode: 'unknown_meter' } })).body).filter((i) => String(i.payload).includes(meterNo));
    await call({ method: 'POST', path: '/meters', role: 'operator', body: { meterNo, meterType: 'electricity' } });

    const reprocessed = await call({ method: 'POST', path: `/quarantine/${String(item?.id)}/reprocess`, role: 'operator' });

    expect(reprocessed.body).toMatchObject({ resolved: true, item: { status: 'reprocessed' } });
    const stored = items((await call({ method: 'GET', path: `/readings/${meterNo}`, role: 'viewer' })).body);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ readingValue: 42, voltage: 229, readingDate: now.toISOString(), deviceId: null });
  });

  it('keeps a value no column can hold in extra, flagged, instead of refusing the batch', async () => {
    const meter = await sdmMeter();

    const posted = await call({ method: 'POST', path: '/readings', role: 'collector', body: { meterId: meter.id, timestamp: '2026-03-12T09:00:00Z', voltage: 3e38, energyImport: 12 } });

    expect(posted.body).toMatchObject({ stored: 1 });
    const [reading] = items((await call({ method: 'GET', path: `/readings/${meter.id}`, role: 'viewer' })).body);
    expect(reading).toMatchObject({ voltage: null, readingValue: 12, extra: { unstorable: { voltage: 3e38 }, flags: ['unstorable:voltage'] } });
  });

  it('refuses a malformed body with a 400 naming the problem, storing nothing', async () => {
    const meter = await sdmMeter();

    const bad = await call({ method: 'POST', path: '/readings', role: 'collector', body: { meter_id: meter.meterNo, energy: 'lots' } });

    expect(bad.status).toBe(400);
    expect(items((await call({ method: 'GET', path: `/readings/${meter.id}`, role: 'viewer' })).body)).toHaveLength(0);
  });

  it('lets the collector role post readings and refuses it on every other route', async () => {
    const refused = apiRoutes().filter((r) => r.access !== 'public' && r.access.includes('collector'));
    const meters = await call({ method: 'GET', path: '/meters', role: 'collector' });
    const readings = await call({ method: 'GET', path: '/readings', role: 'collector' });
    const register = await call({ method: 'POST', path: '/meters', role: 'collector', body: { meterNo: uniqueNo(), meterType: 'electricity' } });

    expect(refused.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /readings']);
    expect([meters.status, readings.status, register.status]).toEqual([403, 403, 403]);
  });

  describe('a day with a counter reset, in the site timezone (Africa/Nairobi, UTC+3)', () => {
    let meter: { id: string; meterNo: string };
    // Local times on 2026-03-10; the reading before the day anchors its first difference.
    const local = (day: number, h: number, m = 30) => new Date(Date.UTC(2026, 2, day, h - 3, m)).toISOString();
    const series: [string, number][] = [
      [local(9, 23), 100], [local(10, 0), 101], [local(10, 1), 103], [local(10, 2), 106],
      // no reading in hour 3: a gap
      [local(10, 4), 110], [local(10, 5), 2], [local(10, 6), 5],
    ];

    beforeAll(async () => {
      meter = await sdmMeter('Africa/Nairobi');
      const body = series.map(([timestamp, energyImport], i) => ({ meterId: meter.id, timestamp, energyImport, power: 1000 + i * 100 }));
      await call({ method: 'POST', path: '/readings', role: 'collector', body });
    });

    it('gives hourly consumption from differences, the reset counted from zero and the gaps as gaps', async () => {
      const hourly = await call({ method: 'GET', path: `/meters/${meter.id}/consumption`, role: 'viewer', query: { interval: 'hour', from: '2026-03-10T00:00:00+03:00', to: '2026-03-11T00:00:00+03:00' } });

      expect(hourly.status).toBe(200);
      expect(hourly.body).toMatchObject({ timezone: 'Africa/Nairobi', interval: 'hour' });
      const buckets = items(hourly.body);
      expect(buckets).toHaveLength(24);
      expect(buckets.slice(0, 8).map((b) => b.consumption)).toEqual([1, 2, 3, null, 4, 2, 3, null]);
      expect(buckets.slice(0, 8).map((b) => b.gap)).toEqual([false, false, false, true, false, false, false, true]);
      expect(buckets[5]).toMatchObject({ resets: 1, start: '2026-03-10T02:00:00.000Z', end: '2026-03-10T03:00:00.000Z' });
    });

    it('gives the day its total across the reset, and months from the same differences', async () => {
      const daily = await call({ method: 'GET', path: `/meters/${meter.id}/consumption`, role: 'viewer', query: { interval: 'day', from: '2026-03-10T00:00:00+03:00', to: '2026-03-12T00:00:00+03:00' } });
      const monthly = await call({ method: 'GET', path: `/meters/${meter.id}/consumption`, role: 'viewer', query: { interval: 'month', from: '2026-02-01T00:00:00+03:00', to: '2026-04-01T00:00:00+03:00' } });

      expect(items(daily.body).map((b) => [b.start, b.consumption, b.readings, b.resets])).toEqual([
        ['2026-03-09T21:00:00.000Z', 15, 6, 1],
        ['2026-03-10T21:00:00.000Z', null, 0, 0],
      ]);
      expect(items(monthly.body).map((b) => b.consumption)).toEqual([null, 15]);
    });

    it('answers in UTC when asked for another timezone', async () => {
      const daily = await call({ method: 'GET', path: `/meters/${meter.meterNo}/consumption`, role: 'viewer', query: { interval: 'day', tz: 'UTC', from: '2026-03-10T00:00:00Z', to: '2026-03-11T00:00:00Z' } });

      // In UTC the local hours 0-2 of the 10th (21:30-23:30 UTC) belong to the 9th: the 10th has 4 + 2 (reset) + 3.
      expect(items(daily.body).map((b) => [b.start, b.consumption, b.resets])).toEqual([['2026-03-10T00:00:00.000Z', 9, 1]]);
    });

    it('gives min/avg/max of power per interval', async () => {
      const s = await call({ method: 'GET', path: `/meters/${meter.id}/series`, role: 'viewer', query: { field: 'power', interval: 'day', from: '2026-03-10T00:00:00+03:00', to: '2026-03-11T00:00:00+03:00' } });

      expect(items(s.body)).toEqual([{ start: '2026-03-09T21:00:00.000Z', end: '2026-03-10T21:00:00.000Z', samples: 6, min: 1100, avg: 1350, max: 1600 }]);
    });

    it('answers CSV when asked with Accept: text/csv', async () => {
      const csv = await call({ method: 'GET', path: `/meters/${meter.id}/consumption`, role: 'viewer', headers: { accept: 'text/csv' }, query: { interval: 'hour', from: '2026-03-10T00:00:00+03:00', to: '2026-03-10T04:00:00+03:00' } });

      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      expect(csv.text.split('\r\n')).toEqual([
        'start,end,consumption,readings,resets,gap,firstValue,lastValue',
        '2026-03-09T21:00:00.000Z,2026-03-09T22:00:00.000Z,1,1,0,false,101,101',
        '2026-03-09T22:00:00.000Z,2026-03-09T23:00:00.000Z,2,1,0,false,103,103',
        '2026-03-09T23:00:00.000Z,2026-03-10T00:00:00.000Z,3,1,0,false,106,106',
        '2026-03-10T00:00:00.000Z,2026-03-10T01:00:00.000Z,,0,0,true,,',
        '',
      ]);
    });

    it('refuses an unknown timezone and an unknown interval with a 400', async () => {
      const tz = await call({ method: 'GET', path: `/meters/${meter.id}/consumption`, role: 'viewer', query: { tz: 'Mars/Olympus' } });
      const interval = await call({ method: 'GET', path: `/meters/${meter.id}/consumption`, role: 'viewer', query: { interval: 'week' } });

      expect([tz.status, interval.status]).toEqual([400, 400]);
    });
  });
});
