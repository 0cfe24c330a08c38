// The quarantine: inbound messages that could not be processed, kept whole with their reason. Operators
// list them and, once the cause is fixed (e.g. the device is registered), reprocess them through the same
// ingestion handler; or discard them, on the record.
import * as z from 'zod';
import type { Db } from '#store/db';
import type { Quarantined } from '#store/schema';
import { ConflictError, NotFoundError, UnavailableError } from '#shared/errors';
import { audit } from './audit.ts';
import type { Principal } from '#domain/roles';
import type { InboundMessage } from './ingest/inbound.ts';
import type { IngestResult } from './ingest/ingest.ts';

export const quarantineListQuery = z.object({
  status: z.enum(['new', 'reprocessed', 'discarded']).default('new'),
  devEui: z.string().regex(/^[0-9a-fA-F]{16}$/).transform((s) => s.toLowerCase()).optional(),
  reasonCode: z.string().regex(/^[a-z_]{1,64}$/, 'a reason code such as unknown_device').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const quarantineDto = (q: Quarantined) => ({
  id: q.id,
  source: q.source,
  topic: q.topic,
  devEui: q.dev_eui,
  meterNo: q.meter_no,
  reasonCode: q.reason_code,
  reason: q.reason,
  payload: q.payload,
  payloadEncoding: q.payload_encoding,
  status: q.status,
  attempts: q.attempts,
  receivedAt: q.received_at,
  lastErrorAt: q.last_error_at,
  resolvedAt: q.resolved_at,
});

export async function listQuarantine(db: Db, q: z.infer<typeof quarantineListQuery>) {
  let query = db.selectFrom('quarantine').selectAll().where('status', '=', q.status);
  if (q.devEui) query = query.where('dev_eui', '=', q.devEui);
  if (q.reasonCode) query = query.where('reason_code', '=', q.reasonCode);
  return query.orderBy('received_at', 'desc').orderBy('id').limit(q.limit).offset(q.offset).execute();
}

async function requireItem(db: Db, id: string): Promise<Quarantined> {
  const item = await db.selectFrom('quarantine').selectAll().where('id', '=', id).executeTakeFirst();
  if (!item) throw new NotFoundError(`quarantine item ${id} does not exist`);
  return item;
}

export interface ReprocessOutcome {
  item: Quarantined;
  resolved: boolean;
}

export async function reprocessQuarantined(
  db: Db,
  ingest: (messages: InboundMessage[]) => Promise<IngestResult>,
  id: string,
  actor: { principal: Principal; requestId?: string },
  now: Date,
): Promise<ReprocessOutcome> {
  const item = await requireItem(db, id);
  if (item.status !== 'new') throw new ConflictError(`quarantine item ${id} is already ${item.status}`);
  const payload = Buffer.from(item.payload, item.payload_encoding === 'base64' ? 'base64' : 'utf8');
  const result = await ingest([{ id: item.id, topic: item.topic ?? '', payload, receivedAt: item.received_at, source: 'reprocess' }]);
  if (result.retry.length) throw new UnavailableError('the database could not take the message now; try again');
  const resolved = result.outcomes.get(item.id) !== 'quarantined';
  if (resolved) {
    await db.updateTable('quarantine').set({ status: 'reprocessed', resolved_at: now }).where('id', '=', id).where('status', '=', 'new').execute();
  }
  await audit(db, actor.principal, actor.requestId, { action: 'quarantine.reprocess', targetType: 'quarantine', targetId: id, details: { resolved } });
  return { item: await requireItem(db, id), resolved };
}

export async function discardQuarantined(db: Db, id: string, reason: string, actor: { principal: Principal; requestId?: string }, now: Date) {
  const item = await requireItem(db, id);
  if (item.status !== 'new') throw new ConflictError(`quarantine item ${id} is already ${item.status}`);
  await db.updateTable('quarantine').set({ status: 'discarded', resolved_at: now }).where('id', '=', id).where('status', '=', 'new').execute();
  await audit(db, actor.principal, actor.requestId, { action: 'quarantine.discard', targetType: 'quarantine', targetId: id, details: { reason } });
  return requireItem(db, id);
}
