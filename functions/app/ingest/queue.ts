// The ingest queue consumer: an SQS batch (from the IoT topic rules or the HTTP integration) becomes one
// ingestBatch call. Records whose effect could not be committed are reported as batch item failures, so
// SQS redelivers only those (and, after maxReceiveCount, moves them to the DLQ); a body that is not our
// envelope is quarantined with its reason rather than retried forever.
//
// Not Powertools' BatchProcessor: it calls a handler per record, and this path must write a batch with
// one statement, not one per row.
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ingestBatch, type IngestDeps } from './ingest.ts';
import { queueBodySchema, type InboundMessage } from './inbound.ts';

export function toInboundMessages(event: SQSEvent): InboundMessage[] {
  return event.Records.map((record) => {
    const sentAt = new Date(Number(record.attributes.SentTimestamp) || Date.now());
    let parsed: ReturnType<typeof queueBodySchema.safeParse> | undefined;
    try {
      parsed = queueBodySchema.safeParse(JSON.parse(record.body));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      return { id: record.messageId, topic: 'queue/malformed', payload: Buffer.from(record.body), receivedAt: sentAt, source: 'sqs' as const };
    }
    return {
      id: record.messageId,
      topic: parsed.data.topic,
      payload: Buffer.from(parsed.data.payloadBase64, 'base64'),
      receivedAt: parsed.data.receivedAt ? new Date(parsed.data.receivedAt) : sentAt,
      source: 'sqs' as const,
    };
  });
}

export function createIngestQueueHandler(deps: IngestDeps) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const result = await ingestBatch(deps, toInboundMessages(event));
    return { batchItemFailures: result.retry.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}
