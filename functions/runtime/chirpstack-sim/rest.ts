// The device-queue part of ChirpStack's REST API (the grpc-gateway proxy), as the client in
// #adapters/chirpstack-client calls it: POST, GET and DELETE /api/devices/{devEui}/queue, errors as
// {code, message, details} with the gRPC status code.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import * as z from 'zod';
import { formatIssues } from '#domain/issues';
import { wireDevEuiSchema } from '#domain/topics';
import type { Logger } from '#shared/logger';
import type { DeviceQueues, QueuedItem } from './device-queues.ts';
import { safeJson } from './json.ts';

const QUEUE_PATH = /^\/api\/devices\/([^/]+)\/queue$/;
const MAX_BODY_BYTES = 64 * 1024;

const base64Schema = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

// EnqueueDeviceQueueItemRequest as proto3 JSON (api/proto/api/device.proto). Unknown fields are ignored,
// as grpc-gateway does; dev_eui comes from the path, which wins over the body as in grpc-gateway.
const enqueueBodySchema = z.object({
  queueItem: z.object({
    devEui: z.string().optional(),
    confirmed: z.boolean().default(false),
    fPort: z.number().int().min(1).max(223),
    data: base64Schema.default(''),
    expiresAt: z.iso.datetime({ offset: true }).nullish(),
  }),
});

class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly grpcCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface DeviceQueueRestOptions {
  queues: DeviceQueues;
  /** When set, requests must carry exactly this bearer key; otherwise any non-empty bearer is accepted. */
  apiKey: string | undefined;
  /** Further enqueues for a device get 429 until its queue drains. */
  maxQueuePerDevice: number;
  logger: Logger;
}

/** The request handler of the REST API; it never throws (failures are answered). */
export function deviceQueueRest(options: DeviceQueueRestOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const { queues, logger } = options;

  const authorize = (header: string | string[] | undefined): void => {
    const value = Array.isArray(header) ? header[0] : header;
    const match = value ? /^Bearer\s+(\S+)$/i.exec(value.trim()) : null;
    if (!match) throw new HttpError(401, 16, 'authorization token required (Grpc-Metadata-Authorization: Bearer ...)');
    if (options.apiKey !== undefined && match[1] !== options.apiKey) {
      throw new HttpError(401, 16, 'invalid API key');
    }
  };

  const enqueue = (devEui: string, body: unknown): { id: string } => {
    const parsed = enqueueBodySchema.safeParse(body);
    if (!parsed.success) throw new HttpError(400, 3, formatIssues(parsed.error, '(body)'));
    const device = queues.device(devEui);
    if (device.queue.length >= options.maxQueuePerDevice) {
      throw new HttpError(429, 8, `device queue is full (${options.maxQueuePerDevice} items)`);
    }
    const { queueItem } = parsed.data;
    const item: QueuedItem = {
      id: randomUUID(),
      devEui,
      confirmed: queueItem.confirmed,
      fPort: queueItem.fPort,
      data: new Uint8Array(Buffer.from(queueItem.data, 'base64')),
      expiresAt: queueItem.expiresAt ? new Date(queueItem.expiresAt) : undefined,
    };
    device.queue.push(item);
    queues.counters.enqueued++;
    return { id: item.id };
  };

  const list = (devEui: string) => {
    const device = queues.find(devEui);
    if (device) queues.dropExpired(device);
    const queue = device?.queue ?? [];
    // Proto3 JSON with unpopulated fields emitted, as the REST proxy's default marshaler does.
    return {
      totalCount: queue.length,
      result: queue.map((item) => ({
        id: item.id,
        devEui: item.devEui,
        confirmed: item.confirmed,
        fPort: item.fPort,
        data: Buffer.from(item.data).toString('base64'),
        object: null,
        isPending: false,
        fCntDown: 0,
        isEncrypted: false,
        expiresAt: item.expiresAt?.toISOString() ?? null,
      })),
    };
  };

  const flush = (devEui: string): void => {
    const device = queues.find(devEui);
    if (!device) return;
    queues.counters.flushed += device.queue.length;
    device.queue = [];
  };

  return async (req, res) => {
    try {
      const path = new URL(req.url ?? '/', 'http://simulator').pathname;
      const match = QUEUE_PATH.exec(path);
      if (!match) throw new HttpError(404, 5, 'Not Found');
      authorize(req.headers['grpc-metadata-authorization']);
      const devEui = decodeURIComponent(match[1] ?? '');
      const eui = wireDevEuiSchema.safeParse(devEui);
      if (!eui.success) throw new HttpError(400, 3, `invalid dev_eui: ${devEui}`);
      switch (req.method) {
        case 'POST':
          return send(res, 200, enqueue(eui.data, await readJson(req)));
        case 'GET':
          return send(res, 200, list(eui.data));
        case 'DELETE':
          flush(eui.data);
          return send(res, 200, {});
        default:
          throw new HttpError(405, 12, 'Method Not Allowed');
      }
    } catch (err) {
      if (err instanceof HttpError) {
        return send(res, err.status, { code: err.grpcCode, message: err.message, details: [] });
      }
      logger.error('ChirpStack simulator: request failed', { error: String(err) });
      return send(res, 500, { code: 13, message: 'internal error', details: [] });
    }
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(400, 3, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buf);
  }
  const body = safeJson(Buffer.concat(chunks).toString('utf8'));
  if (body === undefined) throw new HttpError(400, 3, 'request body is not valid JSON');
  return body;
}
