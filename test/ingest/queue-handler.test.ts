// The ingest Lambda behind SQS, with the database reached through the RDS Data API as deployed (local
// Data API endpoint over real PostgreSQL or PGlite): event shape, partial batch failures, and what a
// batch of 100 uplinks costs in AWS calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { toQueueBody } from '#app/ingest/inbound';
import { createIngestQueueHandler } from '#app/ingest/queue';
import { createMeter } from '#app/registry/registry';
import { logger } from '#shared/logger';
import { openDataApiTestDb, type DataApiTestDb } from '../support/data-api.ts';
import { randomEui, upEvent, upTopic } from '../support/chirpstack.ts';

let testDb: DataApiTestDb;
const actor = { principal: { subject: 'test', roles: ['admin' as const] } };

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  testDb = await openDataApiTestDb();
});
afterAll(async () => {
  await testDb.close();
});

function sqsRecord(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `rh-${messageId}`,
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'AIDAIOT', ApproximateFirstReceiveTimestamp: String(Date.now()) },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:quantify-ingest',
    awsRegion: 'us-east-1',
  };
}

const uplinkRecord = (i: number, devEui: string, fCnt: number) =>
  sqsRecord(`msg-${i}`, JSON.stringify(toQueueBody(upTopic(devEui), Buffer.from(JSON.stringify(upEvent({ devEui, fPort: 85, hex: '01755c05c8' + Buffer.from(Uint32Array.of(1000 + fCnt).buffer).toString('hex'), fCnt, time: new Date(Date.UTC(2026, 10, 20, 0, 0, fCnt)) }))), new Date())));

describe('ingest queue handler over the Data API', () => {
  it('writes a batch of 100 uplinks with one invocation and at most 3 Data API calls', async () => {
    const devices = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const devEui = randomEui();
        await createMeter(testDb.db, { meterNo: `SQS${i}${devEui.slice(0, 6)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_em300_di', devEui, lifecycle: 'active' } }, actor, new Date());
        return devEui;
      }),
    );
    const handler = createIngestQueueHandler({ db: testDb.db, logger, now: () => new Date(), commandExpiryHours: 48 });
    const event: SQSEvent = { Records: Array.from({ length: 100 }, (_, i) => uplinkRecord(i, devices[i % 10]!, Math.floor(i / 10) + 1)) };
    testDb.server.resetCalls();

    const response = await handler(event);

    expect(response.batchItemFailures).toEqual([]);
    const calls = testDb.server.calls.map((c) => c.operation);
    expect(calls.length).toBeLessThanOrEqual(3);
    expect(calls.every((op) => op === 'ExecuteStatement')).toBe(true);
    const count = await testDb.db.selectFrom('meter_readings').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(100);
  });

  it('quarantines a body that is not the envelope instead of retrying it forever', async () => {
    const handler = createIngestQueueHandler({ db: testDb.db, logger, now: () => new Date(), commandExpiryHours: 48 });

    const response = await handler({ Records: [sqsRecord('bad-1', 'not json at all')] });

    expect(response.batchItemFailures).toEqual([]);
    const item = await testDb.db.selectFrom('quarantine').selectAll().where('reason_code', '=', 'malformed_queue_message').executeTakeFirstOrThrow();
    expect(item.payload).toBe('not json at all');
  });

  it('reports every record as a batch item failure when the database is unreachable', async () => {
    const { openDataApi } = await import('#adapters/db/connect');
    const { RDSDataClient } = await import('@aws-sdk/client-rds-data');
    const unreachable = await openDataApi({ client: new RDSDataClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 }), resourceArn: 'arn:x', secretArn: 'arn:y', database: 'q' });
    const handler = createIngestQueueHandler({ db: unreachable.db, logger, now: () => new Date(), commandExpiryHours: 48 });

    const response = await handler({ Records: [uplinkRecord(1, randomEui(), 1), uplinkRecord(2, randomEui(), 1)] });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'msg-1' }, { itemIdentifier: 'msg-2' }]);
    await unreachable.close();
  });
});
