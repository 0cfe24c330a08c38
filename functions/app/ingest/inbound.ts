// What reaches the ingestion handler, whichever way it came: a topic, the raw payload bytes and when it
// was received. The cloud wraps it in an SQS body (from the IoT rule or the HTTP integration Lambda);
// the local runtime builds it straight from the broker or the HTTP server.
import { createHash } from 'node:crypto';
import * as z from 'zod';

export interface InboundMessage {
  /** Identifies the message within its batch (SQS messageId, or a local sequence number). */
  id: string;
  topic: string;
  payload: Uint8Array;
  receivedAt: Date;
  source: 'mqtt' | 'http' | 'sqs' | 'reprocess';
}

/**
 * The SQS body: the IoT rule's `SELECT encode(*, 'base64') AS payloadBase64, topic() AS topic,
 * timestamp() AS receivedAt`, or the same fields from the HTTP integration Lambda.
 */
export const queueBodySchema = z.object({
  topic: z.string().min(1).max(512),
  payloadBase64: z.base64(),
  receivedAt: z.number().int().positive().optional(),
});
export type QueueBody = z.infer<typeof queueBodySchema>;

export function toQueueBody(topic: string, payload: Uint8Array, receivedAt: Date): QueueBody {
  return { topic, payloadBase64: Buffer.from(payload).toString('base64'), receivedAt: receivedAt.getTime() };
}

/** The payload as a Buffer, without copying its bytes. */
export const payloadBuffer = (payload: Uint8Array): Buffer =>
  Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);

export function payloadText(payload: Uint8Array): { text: string; encoding: 'utf8' | 'base64' } {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(payload);
  // Keep binary payloads exactly: bytes that are not valid UTF-8, or hold a NUL (PostgreSQL text cannot),
  // are stored as base64.
  const storable = !text.includes('\u0000') && Buffer.from(text, 'utf8').equals(Buffer.from(payload));
  return storable ? { text, encoding: 'utf8' } : { text: Buffer.from(payload).toString('base64'), encoding: 'base64' };
}

export function messageDigest(topic: string, payload: Uint8Array): string {
  return createHash('sha256').update(topic).update('\0').update(payload).digest('hex').slice(0, 32);
}
