// The dispatcher Lambda's handler behind SQS, with the database reached through the RDS Data API as
// deployed (the local Data API endpoint over real PostgreSQL or PGlite, typing parameters as the service
// does), the real ChirpStack client against a loopback stub, and the SQS command queue adapter against
// aws-sdk-client-mock (there is no local SQS). The event is the SQS sample from the AWS Lambda developer
// guide ("Using Lambda with Amazon SQS"), with our message bodies, in fixtures/sqs-command-event.json.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChirpStackClient } from '#adapters/chirpstack-client';
import { CommandQueueError, sqsCommandQueue } from '#adapters/command-queue';
import type { DispatchDeps } from '#app/commands/dispatcher';
import { applyFeedback } from '#app/commands/feedback';
import { createCommandQueueHandler } from '#app/commands/queue-handler';
import type { DevicePublisher, DeviceQueueApi } from '#app/commands/ports';
import { requestBalanceUpdate, requestRelay } from '#app/commands/requests';
import { sweep } from '#app/commands/sweeper';
import type { InboundMessage } from '#app/ingest/inbound';
import { ingestBatch } from '#app/ingest/ingest';
import { createMeter } from '#app/registry/registry';
import { logger } from '#shared/logger';
import { applicationId, inbound, randomEui, upTopic } from '../support/chirpstack.ts';
import { openDataApiTestDb, type DataApiTestDb } from '../support/data-api.ts';
import { startChirpStackStub, type ChirpStackStub } from './chirpstack-stub.ts';

let testDb: DataApiTestDb;
let stub: ChirpStackStub;
const actor = { principal: { subject: 'operator-1', roles: ['operator' as const] } };
const sqs = mockClient(SQSClient);

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  testDb = await openDataApiTestDb();
  stub = await startChirpStackStub('accept');
});
afterAll(async () => {
  await stub?.close();
  await testDb?.close();
});
afterEach(() => {
  sqs.reset();
});

/** A fresh copy of the fixture event, its first record carrying `commandId`. */
function event(commandId: string): SQSEvent {
  const text = readFileSync(path.join(import.meta.dirname, 'fixtures/sqs-command-event.json'), 'utf8');
  return JSON.parse(text.replace('COMMAND_ID', commandId)) as SQSEvent;
}

/** Ingestion as the runtime wires it, over the Data API: events stored, then handed to the command feedback. */
const ingest = (messages: InboundMessage[]) =>
  ingestBatch({ db: testDb.db, logger, now: () => new Date(), commandExpiryHours: 48, onFeedback: async (f) => void (await applyFeedback({ db: testDb.db, logger, now: () => new Date() }, f)) }, messages);

const deps = async (): Promise<DispatchDeps> => ({ db: testDb.db, logger, now: () => new Date(), network: new ChirpStackClient({ baseUrl: stub.url, apiKey: 'k' }) });

async function relayCommand() {
  const devEui = randomEui();
  const { meter } = await createMeter(testDb.db, { meterNo: `Q${devEui.slice(0, 10)}`, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'milesight_uc100', devEui, lifecycle: 'active' } }, actor, new Date());
  const { command } = await requestRelay({ db: testDb.db, logger, now: () => new Date(), commandQueue: { enqueue: async () => undefined } }, meter.id, { action: 'off', reason: 'arrears', priority: 5 }, actor);
  return { command, devEui, meterId: meter.id };
}

describe('dispatcher queue handler over the Data API', () => {
  it('sends the command in three Data API calls and reports only the malformed record as failed', async () => {
    const { command } = await relayCommand();
    const handler = createCommandQueueHandler(deps, logger);
    testDb.server.resetCalls();

    const response = await handler(event(command.id));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '2e1424d4-f796-459a-8184-9c92662be6da' }]);
    // Claim, record, and look for confirmations ingested while it was being sent.
    expect(testDb.server.calls.map((c) => c.operation)).toEqual(['ExecuteStatement', 'ExecuteStatement', 'ExecuteStatement']);
    const row = await testDb.db.selectFrom('device_commands').selectAll().where('id', '=', command.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'sent', delivery_state: 'awaiting_device', network_queue_item_id: stub.items.at(-1)?.id, claim_token: null });
  });

  it('enqueues nothing again when SQS redelivers the message', async () => {
    const { command } = await relayCommand();
    const handler = createCommandQueueHandler(deps, logger);
    await handler(event(command.id));
    const calls = stub.enqueueCalls;

    const again = await handler(event(command.id));

    expect(again.batchItemFailures).toEqual([{ itemIdentifier: '2e1424d4-f796-459a-8184-9c92662be6da' }]);
    expect(stub.enqueueCalls).toBe(calls);
  });

  it('reports every record as failed when its dependencies cannot be set up', async () => {
    const { command } = await relayCommand();
    const handler = createCommandQueueHandler(async () => {
      throw new Error('Secrets Manager unreachable');
    }, logger);

    const response = await handler(event(command.id));

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['059f36b4-87a3-44ab-83d2-661975830a7d', '2e1424d4-f796-459a-8184-9c92662be6da']);
  });

  it('applies a txack ingested while its command was being sent, found by queue item id (a UUID-shaped text value)', async () => {
    const { command } = await relayCommand();
    const client = new ChirpStackClient({ baseUrl: stub.url, apiKey: 'k' });
    const network: DeviceQueueApi = {
      listQueue: (eui) => client.listQueue(eui),
      flushQueue: (eui) => client.flushQueue(eui),
      enqueue: async (eui, item) => {
        const queueItemId = await client.enqueue(eui, item);
        await ingest([inbound(upTopic(eui, 'txack'), { deviceInfo: { applicationId, devEui: eui }, time: new Date(Date.now() + 5).toISOString(), queueItemId, downlinkId: 1, fCntDown: 1 })]);
        return queueItemId;
      },
    };

    await createCommandQueueHandler(async () => ({ ...(await deps()), network }), logger)(event(command.id));

    const row = await testDb.db.selectFrom('device_commands').selectAll().where('id', '=', command.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'sent', delivery_state: 'transmitted', transmitted_at: expect.any(Date) as Date });
  });

  it('applies an ESP32 balance report ingested while its update was being published', async () => {
    const meterNo = `P${randomEui().slice(0, 8)}`;
    const { meter } = await createMeter(testDb.db, { meterNo, meterType: 'electricity', isPrepaid: true, device: { deviceType: 'esp32_meter', meterNo, lifecycle: 'active' } }, actor, new Date());
    const command = await requestBalanceUpdate({ db: testDb.db, logger, now: () => new Date(), commandQueue: { enqueue: async () => undefined } }, { meterId: meter.id, balance: 12.25, idempotencyKey: `dq-${meterNo}` });
    const publisher: DevicePublisher = { publish: async () => void (await ingest([inbound(`smartmeter/${meterNo}/balance`, { meterNo, balance: 12.25, timestamp: Date.now() + 5 })])) };

    await createCommandQueueHandler(async () => ({ ...(await deps()), publisher }), logger)(event(command.id));

    const row = await testDb.db.selectFrom('device_commands').selectAll().where('id', '=', command.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'confirmed', outcome: { via: 'balance_report', balance: 12.25 } });
  });

  it('matches a txack by queue item id (a UUID-shaped text column) and sweeps through the Data API too', async () => {
    const { command, devEui, meterId } = await relayCommand();
    await createCommandQueueHandler(deps, logger)(event(command.id));
    const sent = await testDb.db.selectFrom('device_commands').selectAll().where('id', '=', command.id).executeTakeFirstOrThrow();
    const at = new Date();

    const feedback = await applyFeedback({ db: testDb.db, logger, now: () => new Date() }, { txAcks: [{ devEui, queueItemId: sent.network_queue_item_id ?? '', time: at }], acks: [], modbusResponses: [{ deviceId: sent.device_id, devEui, meterId, time: at, response: { slaveId: 1, functionCode: 5, frameHex: '010500000000cdca', crcValid: true } }], balanceReports: [] });
    const swept = await sweep({ db: testDb.db, logger, commandQueue: { enqueue: async () => undefined } }, new Date(Date.now() + 49 * 3_600_000));

    expect(feedback).toEqual({ updated: 1, confirmed: 1, failed: 0 });
    const meter = await testDb.db.selectFrom('meters').select(['relay_state', 'relay_state_source']).where('id', '=', meterId).executeTakeFirstOrThrow();
    expect(meter).toEqual({ relay_state: 'off', relay_state_source: 'modbus_echo' });
    // The earlier tests' commands, still awaiting their devices, expire; a confirmed one stays confirmed.
    expect(swept.expired).toBeGreaterThanOrEqual(2);
    expect((await testDb.db.selectFrom('device_commands').select('status').where('id', '=', command.id).executeTakeFirstOrThrow()).status).toBe('confirmed');
  });
});

describe('SQS command queue adapter', () => {
  const ids = Array.from({ length: 12 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

  it('sends one message per command id, ten per SendMessageBatch', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });

    await sqsCommandQueue(new SQSClient({ region: 'us-east-1' }), 'https://sqs.us-east-1.amazonaws.com/123456789012/commands').enqueue(ids);

    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls.map((c) => c.args[0].input.Entries?.length)).toEqual([10, 2]);
    expect(calls[0]?.args[0].input.Entries?.[0]).toEqual({ Id: ids[0], MessageBody: JSON.stringify({ commandId: ids[0] }) });
  });

  it('reports the entries SQS refused, so their commands are left for the sweeper', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [{ Id: ids[3], Code: 'InternalError', SenderFault: false, Message: 'try again' }] });
    const queue = sqsCommandQueue(new SQSClient({ region: 'us-east-1' }), 'https://sqs.us-east-1.amazonaws.com/123456789012/commands');

    const error = await queue.enqueue(ids.slice(0, 5)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(CommandQueueError);
    expect((error as CommandQueueError).failedIds).toEqual([ids[3]]);
  });

  it('refuses to pretend when no queue URL is configured', async () => {
    await expect(sqsCommandQueue(new SQSClient({ region: 'us-east-1' }), undefined).enqueue(ids.slice(0, 1))).rejects.toThrow('COMMAND_QUEUE_URL is not configured');
  });
});
