// Parking operated through the API, on a real database (PostgreSQL when DATABASE_URL is set, PGlite
// otherwise), with a command queue that records what it is given: spaces with a sensor and a display,
// reservations that set RESERVED and actuate the display through the command system (overlaps refused),
// expiry and cancellation back to the sensed state, override/maintenance and release, the display state
// following confirmed actuations, and occupancy per zone now and over time.
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler } from '#app/api/index';
import { runReservations } from '#app/parking/parking';
import { writeFeedback } from '#store/commands/feedback';
import { logger } from '#shared/logger';
import { randomEui } from '../support/chirpstack.ts';
import { apiEvent, lambdaContext, parseResult, type EventInput } from '../support/api.ts';
import { openTestDb, type TestDb } from '../support/db.ts';

let testDb: TestDb;
let call: (input: EventInput) => Promise<ReturnType<typeof parseResult>>;
const enqueued: string[] = [];
const deps = () => ({ db: testDb.db, logger, now: () => new Date(), commandQueue: { enqueue: async (ids: string[]) => void enqueued.push(...ids) } });

beforeAll(async () => {
  testDb = await openTestDb();
  logger.setLogLevel('SILENT');
  const handler = createApiHandler({ ...deps(), healthChecks: {}, ingest: async () => { throw new Error('not used'); } });
  call = async (input) => parseResult(await handler(apiEvent(input), lambdaContext));
});
afterAll(async () => {
  await testDb.close();
});
beforeEach(() => {
  enqueued.length = 0;
});

const unique = () => `P${Math.random().toString(36).slice(2, 9)}`;

async function device(deviceType: string): Promise<{ id: string; devEui: string }> {
  const res = await call({ method: 'POST', path: '/devices', body: { deviceType, devEui: randomEui() } });
  expect(res.status).toBe(201);
  return { id: String(res.body.id), devEui: String(res.body.devEui) };
}

async function space(extra: Record<string, unknown> = {}): Promise<{ id: string; sensor: { id: string; devEui: string }; display: { id: string; devEui: string } }> {
  const sensor = await device('browan_tabs');
  const display = await device('kuando_busylight');
  const res = await call({ method: 'POST', path: '/parking/spaces', role: 'operator', body: { code: unique(), name: 'Bay', sensorDeviceId: sensor.id, displayDeviceId: display.id, ...extra } });
  expect(res.status).toBe(201);
  return { id: String(res.body.id), sensor, display };
}

const actuations = async (spaceId: string) => (await call({ method: 'GET', path: `/parking/spaces/${spaceId}/actuations` })).body.items as Record<string, unknown>[];
const stateOf = async (spaceId: string) => (await call({ method: 'GET', path: `/parking/spaces/${spaceId}` })).body;

describe('parking spaces', () => {
  it('creates a space with its sensor and display, whose DevEUIs it carries', async () => {
    const sensor = await device('browan_tabs');
    const display = await device('kuando_busylight');
    const code = unique();

    const res = await call({ method: 'POST', path: '/parking/spaces', role: 'operator', body: { code, name: 'Bay 1', zone: 'A', sensorDeviceId: sensor.id, displayDeviceId: display.id } });

    expect(res).toMatchObject({ status: 201, body: { code, zone: 'A', state: 'FREE', sensorDevEui: sensor.devEui, displayDevEui: display.devEui, reservation: null } });
    const listed = await call({ method: 'GET', path: '/parking/spaces', query: { zone: 'A' } });
    expect((listed.body.items as { code: string }[]).map((s) => s.code)).toContain(code);
  });

  it('refuses a sensor that senses no occupancy and a display that displays nothing', async () => {
    const meterDevice = await device('milesight_uc100');

    const sensor = await call({ method: 'POST', path: '/parking/spaces', body: { code: unique(), name: 'x', sensorDeviceId: meterDevice.id } });
    const display = await call({ method: 'POST', path: '/parking/spaces', body: { code: unique(), name: 'x', displayDeviceId: meterDevice.id } });

    expect(sensor).toMatchObject({ status: 400, body: { errors: [{ path: 'body.sensorDeviceId' }] } });
    expect(display).toMatchObject({ status: 400, body: { errors: [{ path: 'body.displayDeviceId' }] } });
  });

  it('swaps the sensor and keeps the history of both', async () => {
    const s = await space();
    const replacement = await device('browan_tabs');

    const res = await call({ method: 'PATCH', path: `/parking/spaces/${s.id}`, body: { sensorDeviceId: replacement.id } });
    const got = await stateOf(s.id);

    expect(res).toMatchObject({ status: 200, body: { sensorDeviceId: replacement.id, sensorDevEui: replacement.devEui } });
    const sensors = (got.deviceHistory as { role: string; deviceId: string; to: string | null }[]).filter((h) => h.role === 'sensor');
    expect(sensors.map((h) => h.deviceId)).toEqual([replacement.id, s.sensor.id]);
    expect(sensors[0]!.to).toBeNull();
    expect(sensors[1]!.to).not.toBeNull();
  });

  it('retires a space: it leaves the list and frees its devices', async () => {
    const s = await space({ zone: unique() });

    const res = await call({ method: 'DELETE', path: `/parking/spaces/${s.id}` });
    const list = await call({ method: 'GET', path: '/parking/spaces', query: { limit: '500' } });
    const reuse = await call({ method: 'POST', path: '/parking/spaces', body: { code: unique(), name: 'y', sensorDeviceId: s.sensor.id } });

    expect(res.body).toMatchObject({ retiredAt: expect.any(String) as string, sensorDeviceId: null });
    expect((list.body.items as { id: string }[]).map((x) => x.id)).not.toContain(s.id);
    expect(reuse.status).toBe(201);
  });
});

describe('reservations', () => {
  it('reserves a space now: RESERVED, the display actuated through a queued command, overlaps refused', async () => {
    const s = await space();
    const from = new Date(Date.now() - 60_000);
    const to = new Date(Date.now() + 3_600_000);

    const res = await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, role: 'operator', body: { from, to, reference: 'BK-1' } });
    const overlap = await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, body: { from: new Date(to.getTime() - 60_000), to: new Date(to.getTime() + 3_600_000), reference: 'BK-2' } });
    const backToBack = await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, body: { from: to, to: new Date(to.getTime() + 3_600_000), reference: 'BK-3' } });

    expect(res).toMatchObject({ status: 201, body: { status: 'active', reference: 'BK-1' } });
    expect(overlap).toMatchObject({ status: 409, body: { overlapping: [{ reference: 'BK-1' }] } });
    expect(backToBack).toMatchObject({ status: 201, body: { status: 'scheduled' } });
    expect(await stateOf(s.id)).toMatchObject({ state: 'RESERVED', reservation: { reference: 'BK-1' } });
    const [act] = await actuations(s.id);
    expect(act).toMatchObject({ trigger: 'api_reservation', previousState: 'FREE', newState: 'RESERVED', displayDevEui: s.display.devEui, displayCode: 'ff00ff6400', fPort: 15 });
    expect(enqueued).toEqual([act!.commandId]);
    const command = await call({ method: 'GET', path: `/commands/${String(act!.commandId)}` });
    expect(command.body).toMatchObject({ type: 'display', status: 'queued', payloadHex: 'ff00ff6400', fPort: 15, deviceId: s.display.id });
  });

  it("follows the display's confirmation in displayState", async () => {
    const s = await space();
    await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, body: { from: new Date(Date.now() - 1000), to: new Date(Date.now() + 3_600_000), reference: 'BK' } });
    const [act] = await actuations(s.id);
    expect((await stateOf(s.id)).displayState).toBeNull();

    const confirmedAt = new Date().toISOString();
    await writeFeedback(testDb.db, [{ id: String(act!.commandId), from_status: 'queued', status: 'confirmed', delivery_state: 'transmitted', transmitted_at: confirmedAt, confirmed_at: confirmedAt, failed_at: null, error_message: null, outcome: { via: 'txack' }, relay_state: null, relay_at: null }], new Date());

    expect(await stateOf(s.id)).toMatchObject({ state: 'RESERVED', displayState: 'RESERVED' });
    const [confirmed] = await actuations(s.id);
    expect(confirmed).toMatchObject({ downlinkConfirmed: true, confirmedAt: expect.any(String) as string, responseTimeMs: expect.any(Number) as number });
  });

  it('starts a later reservation when its window opens and lets it expire back to the sensed state', async () => {
    const s = await space();
    await sql`UPDATE parking_spaces SET sensor_state = 'occupied', current_state = 'OCCUPIED' WHERE id = ${s.id}`.execute(testDb.db);
    const from = new Date(Date.now() + 3_600_000);
    const to = new Date(from.getTime() + 1_800_000);
    const created = await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, body: { from, to, reference: 'LATER' } });
    expect(created.body.status).toBe('scheduled');
    expect((await stateOf(s.id)).state).toBe('OCCUPIED');

    const atStart = await runReservations(deps(), new Date(from.getTime() + 1000));
    const reserved = await stateOf(s.id);
    const atEnd = await runReservations(deps(), new Date(to.getTime() + 1000));

    expect(atStart.started).toBeGreaterThanOrEqual(1);
    expect(reserved.state).toBe('RESERVED');
    expect(atEnd.ended).toBeGreaterThanOrEqual(1);
    expect(await stateOf(s.id)).toMatchObject({ state: 'OCCUPIED', reservation: null });
    expect((await actuations(s.id)).map((a) => [a.trigger, a.newState])).toEqual([
      ['reservation_expired', 'OCCUPIED'],
      ['api_reservation', 'RESERVED'],
    ]);
    const list = await call({ method: 'GET', path: `/parking/spaces/${s.id}/reservations` });
    expect(list.body).toMatchObject({ total: 1, items: [{ reference: 'LATER', status: 'ended' }] });
  });

  it('cancels an active reservation back to the sensed state, and refuses to cancel it twice', async () => {
    const s = await space();
    const r = await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, body: { from: new Date(Date.now() - 1000), to: new Date(Date.now() + 3_600_000), reference: 'C' } });

    const cancelled = await call({ method: 'POST', path: `/parking/reservations/${String(r.body.id)}/cancel`, role: 'operator', body: { reason: 'customer cancelled' } });
    const again = await call({ method: 'POST', path: `/parking/reservations/${String(r.body.id)}/cancel`, body: {} });

    expect(cancelled.body).toMatchObject({ status: 'cancelled', cancelReason: 'customer cancelled' });
    expect(again.status).toBe(409);
    expect((await stateOf(s.id)).state).toBe('FREE');
    expect((await actuations(s.id))[0]).toMatchObject({ trigger: 'api_reservation', previousState: 'RESERVED', newState: 'FREE' });
  });

  it('refuses a window that ends before it starts or has already ended', async () => {
    const s = await space();

    const backwards = await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, body: { from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z', reference: 'x' } });
    const past = await call({ method: 'POST', path: `/parking/spaces/${s.id}/reservations`, body: { from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', reference: 'x' } });

    expect(backwards).toMatchObject({ status: 400, body: { errors: [{ path: 'body.to' }] } });
    expect(past.status).toBe(409);
  });
});

describe('override and maintenance', () => {
  it('puts a space under maintenance with a reason and releases it to the sensed state, audited', async () => {
    const s = await space();

    const maintenance = await call({ method: 'POST', path: `/parking/spaces/${s.id}/override`, role: 'operator', body: { state: 'MAINTENANCE', reason: 'line painting' } });
    const noReason = await call({ method: 'POST', path: `/parking/spaces/${s.id}/override`, body: { state: 'FREE' } });
    const released = await call({ method: 'POST', path: `/parking/spaces/${s.id}/release`, body: { reason: 'done' } });

    expect(maintenance.body).toMatchObject({ state: 'MAINTENANCE', overrideReason: 'line painting', overrideBy: 'user-operator' });
    expect(noReason).toMatchObject({ status: 400, body: { errors: [{ path: 'body.reason' }] } });
    expect(released.body).toMatchObject({ state: 'FREE', overrideReason: null });
    expect((await actuations(s.id)).map((a) => [a.trigger, a.newState, a.displayCode])).toEqual([
      ['system_cleanup', 'FREE', '0000ff6400'],
      ['manual_override', 'MAINTENANCE', 'ffa5006400'],
    ]);
    const audits = (await sql<{ action: string }>`SELECT action FROM audit_log WHERE target_id = ${s.id} ORDER BY id`.execute(testDb.db)).rows.map((r) => r.action);
    expect(audits).toEqual(['parking_space.create', 'parking_space.override', 'parking_space.release']);
  });
});

describe('occupancy', () => {
  it("lists a space's occupancy events and counts occupancy per zone now and over time", async () => {
    const zone = unique();
    const a = await space({ zone });
    const b = await space({ zone });
    await sql`
      INSERT INTO occupancy_events (space_id, device_id, occupied, previous_state, new_state, event_time, source_key) VALUES
        (${a.id}::uuid, ${a.sensor.id}::uuid, true, 'FREE', 'OCCUPIED', '2026-11-01T10:10:00Z', ${`${zone}-1`}),
        (${b.id}::uuid, ${b.sensor.id}::uuid, true, 'FREE', 'OCCUPIED', '2026-11-01T11:10:00Z', ${`${zone}-2`}),
        (${a.id}::uuid, ${a.sensor.id}::uuid, false, 'OCCUPIED', 'FREE', '2026-11-01T12:10:00Z', ${`${zone}-3`})`.execute(testDb.db);
    await sql`UPDATE parking_spaces SET created_at = '2026-11-01T00:00:00Z' WHERE zone = ${zone}`.execute(testDb.db);
    await sql`UPDATE parking_spaces SET current_state = 'OCCUPIED', sensor_state = 'occupied' WHERE id = ${b.id}`.execute(testDb.db);

    const events = await call({ method: 'GET', path: `/parking/spaces/${a.id}/occupancy` });
    const now = await call({ method: 'GET', path: '/parking/occupancy', query: { zone } });
    const overTime = await call({ method: 'GET', path: '/parking/occupancy', query: { zone, interval: '1h', from: '2026-11-01T10:00:00Z', to: '2026-11-01T13:00:00Z' } });
    const noWindow = await call({ method: 'GET', path: '/parking/occupancy', query: { zone, interval: '1h' } });

    expect(events.body).toMatchObject({ total: 2, items: [{ occupied: false }, { occupied: true }] });
    expect(now.body.items).toEqual([{ siteId: null, zone, spaces: 2, free: 1, occupied: 1, reserved: 0, maintenance: 0, occupancy: 0.5 }]);
    expect((overTime.body.items as { occupied: number; spaces: number }[]).map((r) => [r.spaces, r.occupied])).toEqual([
      [2, 1],
      [2, 2],
      [2, 1],
    ]);
    expect(noWindow).toMatchObject({ status: 400, body: { errors: [{ path: 'query.interval' }] } });
  });
});
