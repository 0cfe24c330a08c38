// The cloud command queue: one SQS message per command id ({"commandId": ...}), sent in batches of ten
// (SendMessageBatch's limit). SQS may accept some entries of a batch and refuse others: refused ones are
// reported, and their commands stay in the database for the sweeper to enqueue again.
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { CommandMessage, CommandQueue } from '#app/commands/ports';

/** SendMessageBatch takes at most 10 entries. */
const SQS_BATCH = 10;

export class CommandQueueError extends Error {
  override name = 'CommandQueueError';
  constructor(
    message: string,
    readonly failedIds: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function sqsCommandQueue(client: SQSClient, queueUrl: string | undefined): CommandQueue {
  return {
    async enqueue(commandIds) {
      if (!commandIds.length) return;
      if (!queueUrl) throw new CommandQueueError('COMMAND_QUEUE_URL is not configured', commandIds);
      const failed: { id: string; reason: string }[] = [];
      for (let i = 0; i < commandIds.length; i += SQS_BATCH) {
        const ids = commandIds.slice(i, i + SQS_BATCH);
        try {
          const response = await client.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              // A command id is a UUID: a valid batch entry id (letters, digits, hyphens), unique in the batch.
              Entries: ids.map((id) => ({ Id: id, MessageBody: JSON.stringify({ commandId: id } satisfies CommandMessage) })),
            }),
          );
          for (const f of response.Failed ?? []) failed.push({ id: f.Id ?? '?', reason: `${f.Code ?? 'error'}: ${f.Message ?? ''}`.trim() });
        } catch (error) {
          failed.push(...ids.map((id) => ({ id, reason: error instanceof Error ? error.message : String(error) })));
        }
      }
      if (failed.length) {
        throw new CommandQueueError(
          `${failed.length} of ${commandIds.length} commands were not enqueued: ${failed.slice(0, 5).map((f) => `${f.id} (${f.reason})`).join(', ')}`,
          failed.map((f) => f.id),
        );
      }
    },
  };
}
