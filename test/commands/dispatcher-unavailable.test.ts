// The dispatcher Lambda's handler when the database cannot be reached: the error it meets is classified
// as unavailable (retryable), and every record of the batch is reported as a batch item failure so SQS
// redelivers it; nothing is marked failed or dropped. Two ways of being unreachable: PostgreSQL refusing
// connections (node-postgres, through a refusing loopback proxy) and Aurora resuming (the Data API).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RDSDataClient } from '@aws-sdk/client-rds-data';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDataApi, openPostgres, type DbHandle } from '#adapters/db/connect';
import { dispatch, type DispatchDeps } from '#app/commands/dispatcher';
import { createCommandQueueHandler } from '#app/commands/queue-handler';
import { isUnavailable } from '#store/errors';
import { logger } from '#shared/logger';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const commandId = '6f1c2d1e-3a4b-4c5d-8e9f-0a1b2c3d4e5f';
const allRecords = ['059f36b4-87a3-44ab-83d2-661975830a7d', '2e1424d4-f796-459a-8184-9c92662be6da'];

function event(): SQSEvent {
  const text = readFileSync(path.join(import.meta.dirname, 'fixtures/sqs-command-event.json'), 'utf8');
  return JSON.parse(text.replace('COMMAND_ID', commandId)) as SQSEvent;
}

async function thrownBy(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return error;
  }
}

let proxy: TcpProxy;
let refusing: DbHandle;
let resuming: DbHandle;

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
  proxy.refuse(true);
  refusing = await openPostgres(proxy.url('postgres://postgres@localhost:5432/test'), { connectTimeoutMs: 1_000 });
  const client = {
    send: async () => {
      throw Object.assign(new Error('Database is resuming after being auto-paused'), { name: 'DatabaseResumingException' });
    },
  } as unknown as RDSDataClient;
  resuming = await openDataApi({ client, resourceArn: 'arn:aws:rds:us-east-1:123456789012:cluster:q', secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:q', database: 'quantify' });
});
afterAll(async () => {
  await refusing?.close();
  await resuming?.close();
  await proxy?.close();
});

const depsOf = (handle: DbHandle): DispatchDeps => ({ db: handle.db, logger, now: () => new Date() });

describe.each([
  ['PostgreSQL refusing connections', () => refusing],
  ['Aurora resuming (Data API)', () => resuming],
])('dispatcher with %s', (_name, handle) => {
  it('meets an error classified as unavailable', async () => {
    const error = await thrownBy(dispatch(depsOf(handle()), [commandId]));

    expect(isUnavailable(error)).toBe(true);
  });

  it('reports every record as a batch item failure, so SQS redelivers them', async () => {
    const handler = createCommandQueueHandler(async () => depsOf(handle()), logger);

    const response = await handler(event());

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(allRecords);
  });
});
