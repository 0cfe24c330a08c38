// The command queue consumer: an SQS batch of command ids becomes one dispatch call. Only records whose
// fate could not be written (the database was unreachable, the dispatcher's dependencies could not be
// set up) are reported as batch item failures, so SQS redelivers just those; a command that failed to
// send is not a failed record: its retry and error live on the command, and the sweeper re-enqueues it
// when its backoff has passed. A body that is not {"commandId": uuid} is reported as failed too, so after
// maxReceiveCount it lands in the dead-letter queue (and its alarm) instead of vanishing.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Logger } from '#shared/logger';
import { dispatch, type DispatchDeps, type DispatchResult } from './dispatcher.ts';
import { commandMessageSchema } from './ports.ts';

function parseBody(body: string): string | undefined {
  try {
    const parsed = commandMessageSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.commandId.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

export function createCommandQueueHandler(deps: () => Promise<DispatchDeps>, logger: Logger) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failures: string[] = [];
    const records = new Map<string, string[]>();
    for (const record of event.Records) {
      const id = parseBody(record.body);
      if (!id) {
        logger.error('command queue: message is not {"commandId": uuid}', { messageId: record.messageId, body: record.body.slice(0, 200) });
        failures.push(record.messageId);
        continue;
      }
      records.set(id, [...(records.get(id) ?? []), record.messageId]);
    }
    if (records.size) {
      let result: DispatchResult | undefined;
      try {
        result = await dispatch(await deps(), [...records.keys()]);
      } catch (error) {
        logger.error('command dispatch failed; the batch will be redelivered', { error: error as Error, commands: records.size });
      }
      if (!result) failures.push(...[...records.values()].flat());
      else if (result.sent.length + result.failed.length + result.retrying.length) {
        logger.info('commands dispatched', { sent: result.sent.length, failed: result.failed.length, retrying: result.retrying.length, later: result.later.length });
      }
    }
    return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}
