// Confirmations from the ingestion path: ChirpStack txack (transmitted) and ack (acknowledged or NACK),
// by queue item id; the meter's Modbus response in a UC100 pass-through uplink, matched against the frame
// each sent relay command carried; an ESP32 balance report, for the meter's latest balance update of that
// balance sent before the report was made. The domain decides what each event means for each command;
// this module finds the commands (one query) and writes the changes (one statement). Redelivered events
// change nothing.
import type { Db } from '#store/db';
import { feedbackCandidates, storedConfirmations, writeFeedback, type FeedbackCandidate, type FeedbackChangeRow } from '#store/commands/feedback';
import { applyDeliveryEvent, type BatchFeedback, type CommandChange, type DeliveryEvent, type TrackedCommand } from '#domain/commands';
import type { Logger } from '#shared/logger';
import type { Metrics } from '../metrics.ts';

export interface FeedbackDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** Commands confirmed or failed by device feedback. */
  metrics?: Metrics;
}

export interface FeedbackResult {
  /** Commands whose status or delivery state changed. */
  updated: number;
  confirmed: number;
  failed: number;
}

type Located =
  | { event: DeliveryEvent; by: 'queue_item'; queueItemId: string }
  | { event: DeliveryEvent; by: 'device'; deviceId: string; types: readonly string[] };

function locate(feedback: BatchFeedback): Located[] {
  const events: Located[] = [
    ...feedback.txAcks.map((t) => ({ event: { kind: 'txack', at: t.time } as const, by: 'queue_item' as const, queueItemId: t.queueItemId })),
    ...feedback.acks.map((a) => ({ event: { kind: 'ack', acknowledged: a.acknowledged, at: a.time } as const, by: 'queue_item' as const, queueItemId: a.queueItemId })),
    ...feedback.modbusResponses.map((m) => ({
      event: { kind: 'modbus_echo', frameHex: m.response.frameHex, crcValid: m.response.crcValid, functionCode: m.response.functionCode, ...(m.response.exceptionCode !== undefined ? { exceptionCode: m.response.exceptionCode } : {}), at: m.time } as const,
      by: 'device' as const,
      deviceId: m.deviceId,
      types: ['relay_on', 'relay_off'],
    })),
    ...feedback.balanceReports.map((b) => ({ event: { kind: 'balance_report', balance: b.balance, at: b.time } as const, by: 'device' as const, deviceId: b.deviceId, types: ['balance_update'] })),
  ];
  // In the order things happened, so a txack and the echo it caused compose in one batch.
  return events.sort((a, b) => a.event.at.getTime() - b.event.at.getTime());
}

const tracked = (c: FeedbackCandidate): TrackedCommand => ({
  commandType: c.command_type,
  status: c.status,
  deliveryState: c.delivery_state,
  confirmed: c.confirmed,
  payloadHex: c.payload_hex,
  transmittedAt: c.transmitted_at,
  sentAt: c.sent_at,
  commandData: c.command_data,
});

export interface FeedbackOptions {
  /** Move only these commands (events stored earlier, applied again for commands just sent). */
  onlyCommandIds?: ReadonlySet<string>;
}

export async function applyFeedback(deps: FeedbackDeps, feedback: BatchFeedback, options: FeedbackOptions = {}): Promise<FeedbackResult> {
  const events = locate(feedback);
  if (!events.length) return { updated: 0, confirmed: 0, failed: 0 };
  const queueItemIds = [...new Set(events.flatMap((e) => (e.by === 'queue_item' ? [e.queueItemId] : [])))];
  const relayDevices = [...new Set(feedback.modbusResponses.map((m) => m.deviceId))];
  const balanceDevices = [...new Set(feedback.balanceReports.map((b) => b.deviceId))];
  const only = options.onlyCommandIds;
  const candidates = (await feedbackCandidates(deps.db, queueItemIds, relayDevices, balanceDevices)).filter((c) => !only || only.has(c.id));

  // Working state: each command as the events so far have left it.
  const state = new Map(candidates.map((c) => [c.id, { row: c, now: tracked(c), change: undefined as CommandChange | undefined }]));
  const byQueueItem = new Map(candidates.filter((c) => c.network_queue_item_id).map((c) => [c.network_queue_item_id ?? '', c.id]));
  // Newest first: an echo or a report answers the latest command that could have caused it (the domain
  // says which could: the same frame; the same balance, sent before the report).
  const byDevice = [...candidates].sort((a, b) => (b.sent_at?.getTime() ?? 0) - (a.sent_at?.getTime() ?? 0));

  let unmatched = 0;
  for (const located of events) {
    const ids = located.by === 'queue_item' ? [byQueueItem.get(located.queueItemId)].filter((id): id is string => id !== undefined) : byDevice.filter((c) => c.device_id === located.deviceId && located.types.includes(c.command_type)).map((c) => c.id);
    let applied = false;
    for (const id of ids) {
      const entry = state.get(id);
      if (!entry) continue;
      const change = applyDeliveryEvent(entry.now, located.event);
      if (!change) continue;
      entry.change = { ...change, relayState: change.relayState ?? entry.change?.relayState ?? null };
      entry.now = { ...entry.now, status: change.status, deliveryState: change.deliveryState, transmittedAt: change.transmittedAt };
      applied = true;
      break;
    }
    if (!applied) unmatched++;
  }

  // A meter's relay state comes from its latest confirmed echo in the batch.
  const changed = [...state.values()].flatMap((e) => (e.change ? [{ row: e.row, change: e.change }] : []));
  const latestRelay = new Map<string, { id: string; at: number }>();
  for (const e of changed) {
    if (!e.change.relayState || !e.row.meter_id || !e.change.confirmedAt) continue;
    const at = e.change.confirmedAt.getTime();
    const known = latestRelay.get(e.row.meter_id);
    if (!known || known.at <= at) latestRelay.set(e.row.meter_id, { id: e.row.id, at });
  }
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const rows: FeedbackChangeRow[] = changed.map(({ row, change: c }) => {
    const relay = row.meter_id && latestRelay.get(row.meter_id)?.id === row.id ? c.relayState : null;
    return {
      id: row.id,
      from_status: row.status,
      status: c.status,
      delivery_state: c.deliveryState,
      transmitted_at: iso(c.transmittedAt),
      confirmed_at: iso(c.confirmedAt),
      failed_at: iso(c.failedAt),
      error_message: c.errorMessage,
      outcome: c.outcome,
      relay_state: relay,
      relay_at: relay ? iso(c.confirmedAt) : null,
    };
  });
  const written = await writeFeedback(deps.db, rows, deps.now());
  if (unmatched) deps.logger.debug('delivery events that matched no open command', { count: unmatched });
  const result = {
    updated: written.length,
    confirmed: written.filter((w) => w.status === 'confirmed').length,
    failed: written.filter((w) => w.status === 'failed').length,
  };
  if (result.confirmed) deps.metrics?.count('commands', result.confirmed, 'confirmed');
  if (result.failed) deps.metrics?.count('commands', result.failed, 'failed');
  return result;
}

/**
 * Confirmations that arrived while their commands were still being dispatched. The dispatcher records a
 * chunk's outcomes only after all its sends, so a txack, ack or ESP32 balance report that comes back in
 * the meantime finds no sent command and is stored unmatched (ingestion writes device_events before it
 * hands feedback over). Called after the outcomes are recorded, this reads those stored events for
 * exactly the commands just sent and applies them through the same path as live feedback. Nothing is lost
 * between the two: a report the live path could not match was stored before the live path looked, so
 * before the outcomes were recorded, so before this reads. If both see it, the second changes nothing.
 */
export async function applyStoredConfirmations(deps: FeedbackDeps, sentCommandIds: readonly string[]): Promise<FeedbackResult> {
  const stored = await storedConfirmations(deps.db, sentCommandIds);
  if (!stored.length) return { updated: 0, confirmed: 0, failed: 0 };
  const feedback: BatchFeedback = { txAcks: [], acks: [], modbusResponses: [], balanceReports: [] };
  // An ESP32 report is read once per command of its device sent in the chunk; apply each event once.
  const seen = new Set<string>();
  for (const e of stored) {
    if (seen.has(e.event_id)) continue;
    seen.add(e.event_id);
    if (e.event_type === 'txack' && e.queue_item_id) feedback.txAcks.push({ devEui: e.dev_eui ?? '', queueItemId: e.queue_item_id, time: e.event_time });
    else if (e.event_type === 'ack' && e.queue_item_id && e.acknowledged !== null) feedback.acks.push({ devEui: e.dev_eui ?? '', queueItemId: e.queue_item_id, acknowledged: e.acknowledged, time: e.event_time });
    else if (e.event_type === 'esp32_balance' && e.balance !== null) feedback.balanceReports.push({ meterNo: e.meter_no ?? '', deviceId: e.device_id, meterId: e.meter_id, balance: e.balance, time: e.event_time });
  }
  return applyFeedback(deps, feedback, { onlyCommandIds: new Set(stored.map((e) => e.command_id)) });
}
