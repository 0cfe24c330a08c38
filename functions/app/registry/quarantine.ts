// The quarantine: inbound messages that could not be processed, kept whole with their reason. Operators
// list them and, once the cause is fixed (e.g. the device is registered), reprocess them through the same
// ingestion handler; or discard them, on the record.
import type { Db } from '#store/db';
import * as store from '#store/quarantine';
import type { Quarantined } from '#store/schema';
import { audit, type Actor } from '../audit.ts';
import type { InboundMessage } from '../ingest/inbound.ts';
import type { IngestResult } from '../ingest/ingest.ts';
import { QuarantineItemNotFoundError, QuarantineItemResolvedError, QuarantinePayloadTruncatedError, ReprocessDeferredError } from './errors.ts';

export const listQuarantine = (db: Db, filter: store.QuarantineFilter): Promise<Quarantined[]> => store.listQuarantine(db, filter);

async function requireItem(db: Db, id: string): Promise<Quarantined> {
  const item = await store.findQuarantined(db, id);
  if (!item) throw new QuarantineItemNotFoundError(id);
  return item;
}

async function requireNewItem(db: Db, id: string): Promise<Quarantined> {
  const item = await requireItem(db, id);
  if (item.status !== 'new') throw new QuarantineItemResolvedError(id, item.status);
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
  actor: Actor,
  now: Date,
): Promise<ReprocessOutcome> {
  const item = await requireNewItem(db, id);
  if (item.payload_truncated) throw new QuarantinePayloadTruncatedError(id);
  const payload = Buffer.from(item.payload, item.payload_encoding === 'base64' ? 'base64' : 'utf8');
  const result = await ingest([{ id: item.id, topic: item.topic ?? '', payload, receivedAt: item.received_at, source: 'reprocess' }]);
  if (result.retry.length) throw new ReprocessDeferredError(id);
  // Dropped (refused even as a quarantine row) is not resolved either: the item stays as it was.
  const outcome = result.outcomes.get(item.id);
  const resolved = outcome !== 'quarantined' && outcome !== 'dropped';
  if (resolved) await store.resolveQuarantined(db, id, 'reprocessed', now);
  await audit(db, actor.principal, actor.requestId, { action: 'quarantine.reprocess', targetType: 'quarantine', targetId: id, details: { resolved } });
  return { item: await requireItem(db, id), resolved };
}

export async function discardQuarantined(db: Db, id: string, reason: string, actor: Actor, now: Date): Promise<Quarantined> {
  await requireNewItem(db, id);
  await store.resolveQuarantined(db, id, 'discarded', now);
  await audit(db, actor.principal, actor.requestId, { action: 'quarantine.discard', targetType: 'quarantine', targetId: id, details: { reason } });
  return requireItem(db, id);
}
