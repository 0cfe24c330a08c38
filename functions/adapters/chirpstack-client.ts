// ChirpStack v4 device-queue client over its REST API (the gRPC gateway, e.g. chirpstack-rest-api on
// :8090). Field names follow api/proto/api/device.proto (DeviceService.Enqueue / GetQueue / FlushQueue,
// EnqueueDeviceQueueItemRequest{queue_item}, EnqueueDeviceQueueItemResponse{id}, DeviceQueueItem,
// GetDeviceQueueItemsResponse{total_count, result}) in their proto3 JSON (lowerCamelCase) form.
import * as z from 'zod';
import type { DeviceQueue, DeviceQueueApi, EnqueueItem } from '#app/commands/ports';
import { formatIssues } from '#domain/issues';
import { wireDevEuiSchema } from '#domain/topics';
import {
  ChirpStackInvalidResponseError,
  ChirpStackRejectedError,
  ChirpStackUnavailableError,
} from './chirpstack-errors.ts';

export {
  ChirpStackError,
  ChirpStackInvalidResponseError,
  ChirpStackRejectedError,
  ChirpStackUnavailableError,
  type UnavailableReason,
} from './chirpstack-errors.ts';

export const chirpStackClientOptionsSchema = z.object({
  /** e.g. http://localhost:8090 (the REST proxy, not the gRPC port). */
  baseUrl: z.url({ protocol: /^https?$/ }),
  apiKey: z.string().min(1),
  timeoutMs: z.number().int().positive().max(120_000).default(5_000),
});
export type ChirpStackClientOptions = z.input<typeof chirpStackClientOptionsSchema>;

const enqueueItemSchema = z.object({
  // z.custom, not z.instanceof: the latter types data as Uint8Array<ArrayBuffer>, which the plain
  // Uint8Array (ArrayBufferLike) frames the domain builds do not satisfy.
  data: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'must be a Uint8Array'),
  /** Application fPort: 1..223 (DeviceQueueItem.f_port "must be > 0"; 224+ is reserved by LoRaWAN). */
  fPort: z.number().int().min(1).max(223),
  confirmed: z.boolean(),
  /** DeviceQueueItem.expires_at: ChirpStack drops the item from the queue after this time. */
  expiresAt: z.date().optional(),
});

// ---- Wire schemas (proto3 JSON). The gateway may omit zero values or emit them, and unset messages as
// null, depending on its marshaler options: absent means the protobuf default. ----

const base64Schema = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

const enqueueResponseSchema = z.object({ id: z.string().min(1) });

const queueItemWireSchema = z.object({
  id: z.string().min(1),
  devEui: z.string().default(''),
  confirmed: z.boolean().default(false),
  fPort: z.number().int().min(0).default(0),
  data: base64Schema.nullish().transform((v) => v ?? ''),
  isPending: z.boolean().default(false),
  fCntDown: z.number().int().min(0).default(0),
  isEncrypted: z.boolean().default(false),
  expiresAt: z.iso.datetime({ offset: true }).nullish(),
});

const listResponseSchema = z.object({
  totalCount: z.number().int().min(0).default(0),
  result: z.array(queueItemWireSchema).nullish().transform((v) => v ?? []),
});

/** grpc-gateway error body: google.rpc.Status as JSON. */
const gatewayErrorSchema = z.object({ code: z.number().int().optional(), message: z.string().optional() });

function requestInvalid(what: string, error: z.ZodError): ChirpStackRejectedError {
  return new ChirpStackRejectedError(`Invalid ${what}: ${formatIssues(error, what)}`, 400);
}

export class ChirpStackClient implements DeviceQueueApi {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;

  constructor(options: ChirpStackClientOptions) {
    const parsed = chirpStackClientOptionsSchema.parse(options);
    this.baseUrl = parsed.baseUrl.replace(/\/+$/, '');
    this.apiKey = parsed.apiKey;
    this.timeoutMs = parsed.timeoutMs;
  }

  async enqueue(devEui: string, item: EnqueueItem): Promise<string> {
    const input = enqueueItemSchema.safeParse(item);
    if (!input.success) throw requestInvalid('queue item', input.error);
    if (input.data.expiresAt && Number.isNaN(input.data.expiresAt.getTime())) {
      throw new ChirpStackRejectedError('Invalid queue item: expiresAt is not a valid date', 400);
    }
    // dev_eui comes from the path ({queue_item.dev_eui}); the body carries the rest of the item.
    const queueItem = {
      confirmed: input.data.confirmed,
      data: Buffer.from(input.data.data).toString('base64'),
      fPort: input.data.fPort,
      ...(input.data.expiresAt ? { expiresAt: input.data.expiresAt.toISOString() } : {}),
    };
    const { status, body } = await this.call('POST', devEui, { queueItem });
    const parsed = enqueueResponseSchema.safeParse(body);
    if (!parsed.success) throw invalidResponse('enqueue', status, parsed.error);
    return parsed.data.id;
  }

  async listQueue(devEui: string): Promise<DeviceQueue> {
    const { status, body } = await this.call('GET', devEui);
    const parsed = listResponseSchema.safeParse(body);
    if (!parsed.success) throw invalidResponse('queue listing', status, parsed.error);
    return {
      totalCount: parsed.data.totalCount,
      items: parsed.data.result.map((item) => ({
        id: item.id,
        devEui: item.devEui,
        confirmed: item.confirmed,
        fPort: item.fPort,
        data: new Uint8Array(Buffer.from(item.data, 'base64')),
        isPending: item.isPending,
        fCntDown: item.fCntDown,
        isEncrypted: item.isEncrypted,
        expiresAt: item.expiresAt ? new Date(item.expiresAt) : undefined,
      })),
    };
  }

  async flushQueue(devEui: string): Promise<void> {
    await this.call('DELETE', devEui);
  }

  private async call(
    method: 'GET' | 'POST' | 'DELETE',
    devEui: string,
    payload?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const eui = wireDevEuiSchema.safeParse(devEui);
    if (!eui.success) throw requestInvalid('devEui', eui.error);
    const url = `${this.baseUrl}/api/devices/${eui.data}/queue`;
    const what = `${method} ${url}`;

    let response: Response;
    let text: string;
    try {
      // One signal bounds the whole exchange, body included: a server that sends headers then stalls
      // times out like one that never answers.
      response = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          'grpc-metadata-authorization': `Bearer ${this.apiKey}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw transportError(what, this.timeoutMs, err);
    }

    const status = response.status;
    if (status >= 500 || status === 408 || status === 429) {
      const reason = status >= 500 ? 'server_error' : 'rate_limited';
      throw new ChirpStackUnavailableError(`ChirpStack ${what}: HTTP ${status} ${summary(text)}`, reason, status);
    }
    if (status >= 400) {
      const detail = gatewayErrorSchema.safeParse(safeJson(text));
      const message = detail.success && detail.data.message ? detail.data.message : summary(text);
      throw new ChirpStackRejectedError(
        `ChirpStack ${what}: HTTP ${status} ${message}`,
        status,
        detail.success ? detail.data.code : undefined,
      );
    }
    if (status < 200 || status >= 300) {
      throw new ChirpStackInvalidResponseError(`ChirpStack ${what}: unexpected HTTP ${status}`, status);
    }
    const body = text.trim() === '' ? {} : safeJson(text);
    if (body === undefined) {
      throw new ChirpStackInvalidResponseError(`ChirpStack ${what}: response is not JSON: ${summary(text)}`, status);
    }
    return { status, body };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function summary(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}

function invalidResponse(what: string, status: number, error: z.ZodError): ChirpStackInvalidResponseError {
  return new ChirpStackInvalidResponseError(`ChirpStack ${what} response is not as expected: ${formatIssues(error, '(body)')}`, status, {
    cause: error,
  });
}

function transportError(what: string, timeoutMs: number, err: unknown): ChirpStackUnavailableError {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    const message = `ChirpStack ${what}: no response within ${timeoutMs} ms`;
    return new ChirpStackUnavailableError(message, 'timeout', undefined, { cause: err });
  }
  // undici reports refused/reset connections and DNS failures as TypeError('fetch failed') with the
  // system error as cause.
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? ` (${cause.code})` : '';
  const message = err instanceof Error ? err.message : String(err);
  return new ChirpStackUnavailableError(`ChirpStack ${what}: ${message}${code}`, 'connection', undefined, {
    cause: err,
  });
}
