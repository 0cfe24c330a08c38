// The HTTP API's tariff routes through the handler the Lambda runs, on a real database (PostgreSQL when
// DATABASE_URL is set, PGlite otherwise), via the local driver and via the RDS Data API: versions that are
// never edited, assignments and their resolution (meter, else account, else site default), audit, and the
// bill preview of a time-of-use tariff with VAT and a standing charge, computed by hand below.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApiHandler } from '#app/api/index';
import type { Db } from '#store/db';
import { logger } from '#shared/logger';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';

const uniqueNo = () => `T${randomUUID().slice(0, 8)}`;

const touWithVat = {
  effectiveFrom: '2026-01-01T00:00:00+03:00',
  components: [
    {
      id: 'energy',
      kind: 'tou',
      name: 'Energy',
      bands: [
        { name: 'peak', rateMinor: '2500' },
        { name: 'offpeak', rateMinor: '1200' },
      ],
      periods: [
        { band: 'peak', days: 'weekdays', from: '06:00', to: '22:00' },
        { band: 'offpeak', days: 'weekdays', from: '22:00', to: '06:00' },
        { band: 'offpeak', days: 'weekends', from: '00:00', to: '24:00' },
      ],
    },
    { id: 'standing', kind: 'fixed', per: 'day', amountMinor: '1000' },
    { id: 'vat', kind: 'percent_tax', percent: '16', appliesTo: ['energy', 'standing'] },
  ],
};
const flat = (rate: string, effectiveFrom = '2026-01-01T00:00:00Z') => ({ effectiveFrom, components: [{ id: 'energy', kind: 'flat', rateMinor: rate }] });

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('tariff API via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;
  let db: Db;
  let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;
  const now = new Date('2026-06-01T00:00:00Z');

  beforeAll(async () => {
    testDb = await open();
    db = testDb.db;
    logger.setLogLevel('SILENT');
    const handler = createApiHandler({ db, logger, now: () => now, healthChecks: {}, ingest: async () => { throw new Error('not used'); }, commandQueue: { enqueue: async () => undefined } });
    call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
  });
  afterAll(async () => {
    await testDb.close();
  });

  const createTariff = async (body: Record<string, unknown>) => {
    const res = await call({ method: 'POST', path: '/tariffs', role: 'operator', body: { meterType: 'electricity', currency: 'KES', ...body } });
    expect(res.status).toBe(201);
    return String(res.body.id);
  };
  const createSite = async (timezone: string) => {
    const res = await call({ method: 'POST', path: '/sites', role: 'operator', body: { code: uniqueNo(), name: 'Estate', timezone } });
    return String(res.body.id);
  };
  const createMeter = async (extra: Record<string, unknown> = {}) => {
    const res = await call({ method: 'POST', path: '/meters', role: 'operator', body: { meterNo: uniqueNo(), meterType: 'electricity', ...extra } });
    expect(res.status).toBe(201);
    return String(res.body.id);
  };
  const createAccount = async (currency = 'KES') => {
    const customer = await db.insertInto('customers').values({ name: 'Customer' }).returning('id').executeTakeFirstOrThrow();
    const account = await db.insertInto('accounts').values({ customer_id: customer.id, account_no: uniqueNo(), currency }).returning('id').executeTakeFirstOrThrow();
    return account.id;
  };

  it('creates a tariff with its first version, which any role may read', async () => {
    const created = await call({ method: 'POST', path: '/tariffs', role: 'operator', body: { name: 'Domestic TOU', meterType: 'electricity', currency: 'KES', version: touWithVat } });

    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/tariffs/${String(created.body.id)}`);
    expect(created.body).toMatchObject({ name: 'Domestic TOU', currency: 'KES', versions: [{ version: 1, effectiveFrom: '2025-12-31T21:00:00.000Z', createdBy: 'user-operator' }] });
    const fetched = await call({ method: 'GET', path: `/tariffs/${String(created.body.id)}`, role: 'viewer' });
    expect(fetched.status).toBe(200);
    expect((fetched.body.versions as { components: unknown[] }[])[0]!.components).toHaveLength(3);
    const list = await call({ method: 'GET', path: '/tariffs', role: 'viewer', query: { meterType: 'electricity', limit: '500' } });
    expect((list.body.items as { id: string; versions: unknown[] }[]).find((t) => t.id === created.body.id)?.versions).toHaveLength(1);
  });

  it('refuses a viewer writing, and an invalid version with the reasons', async () => {
    const asViewer = await call({ method: 'POST', path: '/tariffs', role: 'viewer', body: { name: 'X', meterType: 'electricity', currency: 'KES', version: flat('1') } });
    const overlapping = await call({
      method: 'POST',
      path: '/tariffs',
      role: 'operator',
      body: {
        name: 'Bad',
        meterType: 'electricity',
        currency: 'KES',
        version: { ...touWithVat, components: [{ ...touWithVat.components[0], periods: [{ band: 'peak', days: 'all', from: '06:00', to: '23:00' }, { band: 'offpeak', days: 'all', from: '22:00', to: '06:00' }] }] },
      },
    });

    expect(asViewer.status).toBe(403);
    expect(overlapping.status).toBe(400);
    expect(JSON.stringify(overlapping.body.errors)).toMatch(/body\.version\.components\.0\.periods\.1.*overlaps period 06:00-23:00 \(peak\) from 22:00/);
  });

  it('adds versions only after the latest and not in the past, and never edits one', async () => {
    const id = await createTariff({ name: 'Flat', version: flat('1000') });

    const past = await call({ method: 'POST', path: `/tariffs/${id}/versions`, role: 'operator', body: flat('1100', '2026-05-01T00:00:00Z') });
    const next = await call({ method: 'POST', path: `/tariffs/${id}/versions`, role: 'admin', body: flat('1200', '2026-07-01T00:00:00Z') });
    const notAfterLatest = await call({ method: 'POST', path: `/tariffs/${id}/versions`, role: 'operator', body: flat('1300', '2026-07-01T00:00:00Z') });

    expect(past.status).toBe(409);
    expect(String(past.body.detail)).toMatch(/cannot start in the past/);
    expect(next.status).toBe(201);
    expect(next.body).toMatchObject({ version: 2, effectiveFrom: '2026-07-01T00:00:00.000Z' });
    expect(notAfterLatest.status).toBe(409);
    expect(String(notAfterLatest.body.detail)).toMatch(/must start after the latest one \(version 2/);
    await expect(sql`UPDATE tariff_versions SET note = 'edited' WHERE tariff_id = ${id}`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM tariff_versions WHERE tariff_id = ${id}`.execute(db)).rejects.toThrow(/append-only/);
    // (CAST: the Data API sends a UUID-shaped string as uuid, and target_id is text.)
    const audited = await db.selectFrom('audit_log').select('action').where(sql<boolean>`target_id = CAST(${id} AS text)`).orderBy('id').execute();
    expect(audited.map((a) => a.action)).toEqual(['tariff.create', 'tariff.add_version']);
  });

  it("resolves a meter's tariff: its own, else its account's, else its site's default for its type", async () => {
    const siteId = await createSite('Africa/Nairobi');
    const accountId = await createAccount();
    const meterId = await createMeter({ siteId, accountId });
    const [siteTariff, accountTariff, meterTariff, waterTariff] = [
      await createTariff({ name: 'Site default', version: flat('1000') }),
      await createTariff({ name: 'Account', version: flat('2000') }),
      await createTariff({ name: 'Meter', version: flat('3000') }),
      await createTariff({ name: 'Water', meterType: 'water', version: flat('5000') }),
    ];
    const resolved = async () => (await call({ method: 'GET', path: `/meters/${meterId}/tariff`, role: 'viewer' })).body;

    expect(await resolved()).toMatchObject({ source: null, tariff: null });
    expect((await call({ method: 'PUT', path: `/sites/${siteId}/tariffs/electricity`, role: 'operator', body: { tariffId: siteTariff } })).status).toBe(200);
    expect(await resolved()).toMatchObject({ source: 'site', timezone: 'Africa/Nairobi', tariff: { id: siteTariff }, versionInEffect: 1 });
    await call({ method: 'PUT', path: `/accounts/${accountId}/tariffs/electricity`, role: 'operator', body: { tariffId: accountTariff } });
    expect(await resolved()).toMatchObject({ source: 'account', tariff: { id: accountTariff } });
    await call({ method: 'PUT', path: `/meters/${meterId}/tariff`, role: 'operator', body: { tariffId: meterTariff } });
    expect(await resolved()).toMatchObject({ source: 'meter', tariff: { id: meterTariff } });
    await call({ method: 'PUT', path: `/meters/${meterId}/tariff`, role: 'operator', body: { tariffId: null } });
    expect(await resolved()).toMatchObject({ source: 'account', tariff: { id: accountTariff } });

    const wrongType = await call({ method: 'PUT', path: `/meters/${meterId}/tariff`, role: 'operator', body: { tariffId: waterTariff } });
    expect(wrongType.status).toBe(400);
    expect(String(wrongType.body.detail)).toMatch(/prices water meters, not electricity/);
    expect((await call({ method: 'GET', path: `/accounts/${accountId}/tariffs`, role: 'viewer' })).body).toMatchObject({ items: [{ meterType: 'electricity', tariffId: accountTariff }] });
    expect((await call({ method: 'GET', path: `/sites/${siteId}/tariffs`, role: 'viewer' })).body).toMatchObject({ items: [{ meterType: 'electricity', tariffId: siteTariff }] });
    expect((await call({ method: 'PUT', path: `/sites/${siteId}/tariffs/electricity`, role: 'viewer', body: { tariffId: null } })).status).toBe(403);
    const audited = await db.selectFrom('audit_log').select(['action', 'target_id']).where('action', 'like', '%.assign_tariff').where(sql<boolean>`target_id IN (CAST(${meterId} AS text), CAST(${accountId} AS text), CAST(${siteId} AS text))`).orderBy('id').execute();
    expect(audited.map((a) => a.action)).toEqual(['site.assign_tariff', 'account.assign_tariff', 'meter.assign_tariff', 'meter.assign_tariff']);
  });

  it('refuses an account tariff in another currency, and an unknown account or site', async () => {
    const usdAccount = await createAccount('USD');
    const kes = await createTariff({ name: 'KES', version: flat('1') });

    const mismatch = await call({ method: 'PUT', path: `/accounts/${usdAccount}/tariffs/electricity`, role: 'operator', body: { tariffId: kes } });
    const unknownAccount = await call({ method: 'PUT', path: `/accounts/${randomUUID()}/tariffs/electricity`, role: 'operator', body: { tariffId: kes } });
    const unknownSite = await call({ method: 'PUT', path: `/sites/${randomUUID()}/tariffs/water`, role: 'operator', body: { tariffId: null } });

    expect(mismatch.status).toBe(400);
    expect(String(mismatch.body.detail)).toMatch(/is in KES, the account in USD/);
    expect(unknownAccount.status).toBe(404);
    expect(unknownSite.status).toBe(404);
  });

  describe('bill preview', () => {
    let meterId: string;

    beforeAll(async () => {
      const siteId = await createSite('Africa/Nairobi');
      meterId = await createMeter({ siteId });
      const tariffId = await createTariff({ name: 'TOU with VAT', version: touWithVat });
      await call({ method: 'PUT', path: `/meters/${meterId}/tariff`, role: 'operator', body: { tariffId } });
      // Tuesday 3 March 2026, Nairobi (UTC+3): 21:00 -> 100 kWh, 22:00 -> 102, 23:00 -> 103.
      await db
        .insertInto('meter_readings')
        .values([
          { meter_id: meterId, source_key: `${meterId}-1`, reading_value: 100, reading_date: new Date('2026-03-03T18:00:00Z') },
          { meter_id: meterId, source_key: `${meterId}-2`, reading_value: 102, reading_date: new Date('2026-03-03T19:00:00Z') },
          { meter_id: meterId, source_key: `${meterId}-3`, reading_value: 103, reading_date: new Date('2026-03-03T20:00:00Z') },
        ])
        .execute();
    });

    it('rates the readings of the period by band with VAT, and the standing charge for its share of the day', async () => {
      const res = await call({ method: 'GET', path: `/meters/${meterId}/bill-preview`, role: 'viewer', query: { from: '2026-03-03T21:00:00+03:00', to: '2026-03-03T23:00:00+03:00' } });

      expect(res.status).toBe(200);
      // Peak 21:00-22:00: 2 kWh x 2500 = 5000; off-peak 22:00-23:00: 1 kWh x 1200 = 1200; VAT 16% of 6200 = 992.
      expect(res.body.consumption).toMatchObject({
        units: '3',
        totalMinor: '7192',
        lines: [
          { componentId: 'energy', tier: 'peak', quantity: '2', amountMinor: '5000' },
          { componentId: 'energy', tier: 'offpeak', quantity: '1', amountMinor: '1200' },
          { componentId: 'vat', quantity: '6200', amountMinor: '992' },
        ],
      });
      // Standing charge: 2 of 24 hours = 0.083333333 day x 1000 = 83.333333; VAT 16% = 13.33333328.
      expect(res.body.fixed).toMatchObject({ totalMinor: '96.66666628' });
      expect(res.body).toMatchObject({ exactTotalMinor: '7288.66666628', totalMinor: 7289, posted: false, timezone: 'Africa/Nairobi', tariff: { source: 'meter', currency: 'KES' } });
      const ledger = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ledger_entries`.execute(db);
      expect(ledger.rows[0]!.n).toBe(0);
    });

    it("places the period's ends on the meter's curve between readings", async () => {
      const res = await call({ method: 'GET', path: `/meters/${meterId}/bill-preview`, role: 'viewer', query: { from: '2026-03-03T21:30:00+03:00', to: '2026-03-03T22:30:00+03:00' } });

      // 21:30 is halfway from 100 to 102 (101); 22:30 halfway from 102 to 103 (102.5).
      // Peak 101 -> 102 = 1 kWh x 2500; off-peak 0.5 kWh x 1200 = 600; VAT 16% of 3100 = 496.
      expect(res.body.readings).toMatchObject({ first: { value: '101' }, last: { value: '102.5' }, count: 3 });
      expect(res.body.consumption).toMatchObject({ units: '1.5', totalMinor: '3596' });
    });

    it('counts inclining blocks from the units already used in the local month', async () => {
      const siteId = await createSite('Africa/Nairobi');
      const blocksMeter = await createMeter({ siteId });
      const tariffId = await createTariff({
        name: 'Blocks',
        version: { effectiveFrom: '2026-01-01T00:00:00+03:00', components: [{ id: 'energy', kind: 'blocks', blocks: [{ upTo: '30', rateMinor: '1223', name: 'lifeline' }, { upTo: null, rateMinor: '1654' }] }] },
      });
      await call({ method: 'PUT', path: `/meters/${blocksMeter}/tariff`, role: 'operator', body: { tariffId } });
      // 28 Feb 00:00 -> 1000; 2 March 00:00 (local) -> 1010: so 1 March 00:00 local sits at 1005.
      // 10 March -> 1030, 11 March -> 1040.
      const rows = [
        ['2026-02-28T00:00:00+03:00', 1000],
        ['2026-03-02T00:00:00+03:00', 1010],
        ['2026-03-10T00:00:00+03:00', 1030],
        ['2026-03-11T00:00:00+03:00', 1040],
      ] as const;
      await db
        .insertInto('meter_readings')
        .values(rows.map(([at, value], i) => ({ meter_id: blocksMeter, source_key: `${blocksMeter}-${i}`, reading_value: value, reading_date: new Date(at) })))
        .execute();

      const res = await call({ method: 'GET', path: `/meters/${blocksMeter}/bill-preview`, role: 'viewer', query: { from: '2026-03-10T00:00:00+03:00', to: '2026-03-11T00:00:00+03:00' } });

      // Month to date at 10 March: 1030 - 1005 = 25 kWh. The day's 10 kWh: 5 in the lifeline block
      // (5 x 1223 = 6115), 5 above it (5 x 1654 = 8270): 14385.
      expect(res.body.consumption).toMatchObject({
        units: '10',
        totalMinor: '14385',
        monthToDate: { month: '2026-03', units: '35' },
        lines: [{ tier: 'lifeline', quantity: '5' }, { tier: 'block 2', quantity: '5' }],
      });
    });

    it("refuses to preview on a site whose time zone is not an IANA zone", async () => {
      const siteId = await createSite('Mars/Olympus');
      const lost = await createMeter({ siteId });
      const tariffId = await createTariff({ name: 'Flat', version: flat('1') });
      await call({ method: 'PUT', path: `/sites/${siteId}/tariffs/electricity`, role: 'operator', body: { tariffId } });

      const res = await call({ method: 'GET', path: `/meters/${lost}/bill-preview`, role: 'viewer', query: { from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' } });

      expect(res.status).toBe(400);
      expect(String(res.body.detail)).toMatch(/"Mars\/Olympus", which is not an IANA time zone/);
    });

    it('answers 409 for a meter with no tariff and 400 for a reversed period', async () => {
      const bare = await createMeter();

      const none = await call({ method: 'GET', path: `/meters/${bare}/bill-preview`, role: 'viewer', query: { from: '2026-03-01T00:00:00Z', to: '2026-03-02T00:00:00Z' } });
      const reversed = await call({ method: 'GET', path: `/meters/${meterId}/bill-preview`, role: 'viewer', query: { from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' } });

      expect(none.status).toBe(409);
      expect(String(none.body.detail)).toMatch(/has no tariff/);
      expect(reversed.status).toBe(400);
    });
  });
});
