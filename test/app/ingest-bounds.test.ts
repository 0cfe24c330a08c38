// Bounded by design: an oversized message is quarantined truncated, with its size and hash, not decoded;
// one source's quarantine rows per hour are capped, and what is over is counted per source, not stored.
// On PostgreSQL when DATABASE_URL is set, PGlite otherwise.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestBatch, type IngestDeps } from '#app/ingest/ingest';
import { quarantinePerSourceHour, quarantineKeepBytes } from '#domain/device-access';
import { logger } from '#shared/logger';
import { inbound, randomEui, upTopic } from '../support/chirpstack.ts';
import { openTestDb, type TestDb } from '../support/db.ts';

let testDb: TestDb;
let deps: IngestDeps;

beforeAll(async () => {
  testDb = await openTestDb();
  logger.setLogLevel('SILENT');
  deps = { db: testDb.db, logger, now: () => new Date(), commandExpiryHours: 48 };
});
afterAll(async () => {
  await testDb.close();
});

const quarantined = (column: 'dev_eui' | 'meter_no', value: string) =>
  testDb.db.selectFrom('quarantine').selectAll().where(column, '=', value).execute();

describe('bounded ingestion', () => {
  it('keeps an oversized ESP32 message truncated, with its size and SHA-256', async () => {
    const meterNo = `BIG${randomBytes(3).toString('hex')}`;
    const payload = `{"unitsConsumed":1,"pad":"${'x'.repeat(1024 * 1024)}"}`;

    const result = await ingestBatch(deps, [inbound(`smartmeter/${meterNo}/consumption`, payload)]);

    const [row] = await quarantined('meter_no', meterNo);
    expect(result.retry).toEqual([]);
    expect(row?.reason_code).toBe('payload_too_large');
    expect(row?.payload_truncated).toBe(true);
    expect(row?.payload_bytes).toBe(Buffer.byteLength(payload));
    expect(row?.payload_sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(row?.payload.length).toBe(quarantineKeepBytes);
  });

  it('keeps a message within its limit whole, with its size', async () => {
    const devEui = randomEui();
    const body = JSON.stringify({ deviceInfo: { devEui }, not: 'an uplink' });

    await ingestBatch(deps, [inbound(upTopic(devEui), body)]);

    const [row] = await quarantined('dev_eui', devEui);
    expect(row?.payload_truncated).toBe(false);
    expect(row?.payload).toBe(body);
    expect(row?.payload_bytes).toBe(Buffer.byteLength(body));
  });

  it('refuses to reprocess an item whose payload was truncated', async () => {
    const { reprocessQuarantined } = await import('#app/registry/quarantine');
    const meterNo = `BIG${randomBytes(3).toString('hex')}`;
    await ingestBatch(deps, [inbound(`smartmeter/${meterNo}/status`, 'x'.repeat(64 * 1024))]);
    const [row] = await quarantined('meter_no', meterNo);

    await expect(reprocessQuarantined(testDb.db, (m) => ingestBatch(deps, m), row?.id ?? '', { principal: { subject: 't', roles: ['admin'] } }, new Date())).rejects.toThrow(/cannot be reprocessed/);
  });

  it('stores at most the hourly allowance from one unknown device, and counts the rest', async () => {
    const devEui = randomEui();
    const flood = Array.from({ length: quarantinePerSourceHour + 50 }, (_, i) => inbound(upTopic(devEui), { deviceInfo: { devEui }, fCnt: i, junk: true }));

    // Two batches, as a flood arrives: the allowance holds across them.
    const first = await ingestBatch(deps, flood.slice(0, 120));
    const second = await ingestBatch(deps, flood.slice(120));

    const rows = await quarantined('dev_eui', devEui);
    const counted = await testDb.db.selectFrom('quarantine_source_hours').select(['messages']).where('source_key', '=', `dev_eui:${devEui}`).execute();
    expect(first.retry).toEqual([]);
    expect(second.retry).toEqual([]);
    expect(rows).toHaveLength(quarantinePerSourceHour);
    expect(counted.reduce((sum, c) => sum + c.messages, 0)).toBe(quarantinePerSourceHour + 50);
  });
});
