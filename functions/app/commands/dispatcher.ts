// The dispatcher: claims commands, sends them (ChirpStack device queue for LoRaWAN, MQTT for ESP32),
// and records what happened. The same function runs behind SQS in the cloud and behind the in-process
// queue locally.
//
// Never twice: a command is claimed with a conditional UPDATE (claim token + lease) before it is sent,
// and the ChirpStack queue item id is stored before the dispatcher reports success, so a redelivered
// message or a second dispatcher finds the command claimed or already sent. ChirpStack's enqueue takes
// no idempotency key, so an attempt whose outcome is unknown (a timeout, a crash before the id was
// stored) is followed by a look at the device's queue: an identical item no command holds yet, and that
// this dispatch has not just enqueued or adopted for another command, is adopted instead of enqueueing a
// second one. Should two commands still end up with one item id, recordOutcomes keeps it for one and hands
// the other back, never failing the chunk.
//
// Never "failed" while the relay may still switch: when no retry is left and the last attempt's outcome is
// unknown, the command is failed only once a listing of the device queue shows the item is not there.
// ChirpStack having answered (5xx, 429), that listing is made at once; a timeout or a dropped connection
// (ChirpStack may still be writing the item) leaves the command sent with delivery state unknown, and its
// queue is listed after the backoff delay (the sweeper re-enqueues it then): found, the item is adopted;
// not found, the command fails with its error kept.
//
// Release on settle: a device's later commands wait while an older one is being dispatched. When a
// dispatch settles a device's command (sent, failed, delivery unknown), it dispatches the device's next
// due commands itself, in the same call, instead of leaving them to their lease or the sweeper.
import { randomUUID } from 'node:crypto';
import type { Db } from '#store/db';
import { afterUncertainSend, CommandConfigError, defaultBackoff, nextUnknownLook, planSend, type BackoffPolicy, type SendPlan, type SendUncertainty } from '#domain/commands';
import type { Logger } from '#shared/logger';
import { claimCommands, heldQueueItemIds, nextDueCommands, recordOutcomes, unclaimedState, type ClaimedCommand, type DispatchOutcome } from '#store/commands/dispatch';
import { DeviceQueueError } from './errors.ts';
import { applyStoredConfirmations } from './feedback.ts';
import type { Metrics } from '../metrics.ts';
import type { DevicePublisher, DeviceQueueApi } from './ports.ts';

export interface DispatchDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** ChirpStack's device queue; without it LoRaWAN commands fail visibly ("not configured"). */
  network?: DeviceQueueApi;
  /** MQTT publisher for ESP32 commands; without it balance updates fail visibly. */
  publisher?: DevicePublisher;
  backoff?: BackoffPolicy;
  /** How long a claim holds; longer than any one send can take (the ChirpStack client times out at 5 s). */
  leaseMs?: number;
  /** Devices sent to at once; one device's commands always go one after another, oldest first. */
  concurrency?: number;
  /** Commands by the state dispatch left them in, and the wait from creation to sending. */
  metrics?: Metrics;
}

export interface DispatchResult {
  sent: string[];
  /** Failed with a retryable error; due again at `at`. */
  retrying: { id: string; at: Date }[];
  failed: string[];
  /** Sent, but whether the network server holds the downlink is unknown: its queue is listed at `at` (also in `later`). */
  unknown: { id: string; at: Date }[];
  /** Still open but not dispatched now (scheduled, backing off, behind an older command of its device, or being sent by another dispatcher): due at `at`. */
  later: { id: string; at: Date }[];
  /** Nothing to do: already sent or finished, cancelled, expired, unknown or not a command id. */
  done: string[];
  /**
   * Commands not asked for that this call dispatched because an older command of their device settled
   * here (release on settle); each is also in sent, retrying, failed or unknown.
   */
  released: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_LEASE_MS = 120_000;
const MAX_IDS_PER_CLAIM = 500;
/** A command that was not claimable for no visible reason (a concurrent claim) is looked at again this soon. */
const RECHECK_MS = 1_000;
/** Rounds of release on settle per dispatch call (each round dispatches the settled devices' next commands). */
const MAX_RELEASE_ROUNDS = 20;

type SendResult =
  | { ok: true; queueItemId: string | null; deliveryState: 'awaiting_device' | 'published' }
  /** `uncertainty`: whether the network server may hold the downlink anyway (from this attempt or, when the queue could not be listed, an earlier one). */
  | { ok: false; retryable: boolean; message: string; uncertainty: SendUncertainty }
  /** A command of unknown delivery whose queue listing showed no matching item: it can fail now. */
  | { ok: false; notQueued: true; message: string };

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The device queue port's errors say whether a retry can help; anything else (a dropped socket) is worth one. */
function isRetryable(error: unknown): boolean {
  return error instanceof DeviceQueueError ? error.retryable : true;
}

/** Whether a failed enqueue may have left the item queued; an error outside the port's contract may have. */
function uncertaintyOf(error: unknown): SendUncertainty {
  return error instanceof DeviceQueueError ? error.uncertainty : 'in_flight';
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** What one dispatch call shares between its sends. */
interface DispatchRun {
  /**
   * Queue item ids this dispatch has enqueued or adopted. They are recorded only at the end of each chunk,
   * so the database cannot yet say they are taken: without this, a command retrying after an unknown
   * outcome would adopt the identical item an older command of its device enqueued moments before.
   */
  taken: Set<string>;
}

/**
 * An identical item in the device's queue that no command holds and this dispatch has not taken, or
 * undefined. Throws the port's error when the queue cannot be listed.
 */
async function findAdoptable(deps: DispatchDeps, run: DispatchRun, network: DeviceQueueApi, plan: Extract<SendPlan, { kind: 'lorawan' }>): Promise<string | undefined> {
  const queue = await network.listQueue(plan.devEui);
  const matching = queue.items.filter((item) => item.fPort === plan.fPort && sameBytes(item.data, plan.data) && !run.taken.has(item.id)).map((item) => item.id);
  const held = await heldQueueItemIds(deps.db, matching);
  return matching.find((id) => !held.has(id));
}

function adopted(deps: DispatchDeps, run: DispatchRun, command: ClaimedCommand, queueItemId: string): SendResult {
  run.taken.add(queueItemId);
  deps.logger.info('command: adopting the queue item an earlier attempt left at ChirpStack', { commandId: command.id, queueItemId });
  return { ok: true, queueItemId, deliveryState: 'awaiting_device' };
}

/**
 * Whether an earlier attempt may have left the item at ChirpStack: one recorded with unknown delivery, or
 * one never recorded at all (a crash, a lost claim, a contested id): dispatch_attempts counts claims, this
 * one included, and retry_count the attempts recorded as retries.
 */
const earlierMayHaveQueued = (command: ClaimedCommand) => command.delivery_state === 'unknown' || command.dispatch_attempts - 1 > command.retry_count;

async function sendLorawan(deps: DispatchDeps, run: DispatchRun, command: ClaimedCommand, plan: Extract<SendPlan, { kind: 'lorawan' }>): Promise<SendResult> {
  const network = deps.network;
  if (!network) return { ok: false, retryable: false, message: 'ChirpStack is not configured (CHIRPSTACK_API_URL)', uncertainty: earlierMayHaveQueued(command) ? 'in_flight' : 'no' };
  if (command.status === 'sent') {
    // Delivery unknown: look, never enqueue. The error that made it unknown is kept if it fails.
    const previous = command.error_message ?? 'the last attempt\'s outcome was unknown';
    try {
      const adopt = await findAdoptable(deps, run, network, plan);
      if (adopt) return adopted(deps, run, command, adopt);
      return { ok: false, notQueued: true, message: `${previous}; ChirpStack's queue for ${plan.devEui} does not hold it` };
    } catch (error) {
      return { ok: false, retryable: false, message: `${previous}; listing ChirpStack's queue failed: ${errorMessage(error)}`, uncertainty: 'in_flight' };
    }
  }
  if (command.dispatch_attempts > 1) {
    // An earlier attempt may have reached ChirpStack without us learning its queue item id.
    try {
      const adopt = await findAdoptable(deps, run, network, plan);
      if (adopt) return adopted(deps, run, command, adopt);
    } catch (error) {
      // Nothing was enqueued now, but an earlier attempt may have been, and the queue could not say.
      return { ok: false, retryable: isRetryable(error), message: errorMessage(error), uncertainty: earlierMayHaveQueued(command) ? 'in_flight' : 'no' };
    }
  }
  try {
    const queueItemId = await network.enqueue(plan.devEui, { data: plan.data, fPort: plan.fPort, confirmed: plan.confirmed, ...(plan.expiresAt ? { expiresAt: plan.expiresAt } : {}) });
    run.taken.add(queueItemId);
    return { ok: true, queueItemId, deliveryState: 'awaiting_device' };
  } catch (error) {
    return { ok: false, retryable: isRetryable(error), message: errorMessage(error), uncertainty: uncertaintyOf(error) };
  }
}

/**
 * The last attempt's outcome is unknown and ChirpStack has finished with the request: list the queue now.
 * Adopted, the command is sent; not there, it fails; the queue unreadable, its delivery stays unknown.
 */
async function listAfterAnsweredFailure(deps: DispatchDeps, run: DispatchRun, command: ClaimedCommand): Promise<'not_queued' | 'unreadable' | { queueItemId: string }> {
  const network = deps.network;
  const plan = lorawanPlan(command);
  if (!network || !plan) return 'not_queued';
  try {
    const adopt = await findAdoptable(deps, run, network, plan);
    if (!adopt) return 'not_queued';
    adopted(deps, run, command, adopt);
    return { queueItemId: adopt };
  } catch (error) {
    deps.logger.warn("command: ChirpStack's queue could not be listed after an attempt of unknown outcome; its delivery stays unknown", { commandId: command.id, error: error as Error });
    return 'unreadable';
  }
}

function lorawanPlan(command: ClaimedCommand): Extract<SendPlan, { kind: 'lorawan' }> | undefined {
  try {
    const plan = planFor(command);
    return plan.kind === 'lorawan' ? plan : undefined;
  } catch {
    return undefined;
  }
}

function planFor(command: ClaimedCommand): SendPlan {
  return planSend({
    commandType: command.command_type,
    deviceEui: command.device_eui,
    meterNo: command.device_meter_no,
    payloadHex: command.payload_hex,
    fPort: command.f_port,
    confirmed: command.confirmed,
    commandData: command.command_data,
    expiresAt: command.expires_at,
  });
}

async function sendOne(deps: DispatchDeps, run: DispatchRun, command: ClaimedCommand): Promise<SendResult> {
  let plan: SendPlan;
  try {
    plan = planFor(command);
  } catch (error) {
    if (error instanceof CommandConfigError) return { ok: false, retryable: false, message: error.message, uncertainty: 'no' };
    throw error;
  }
  if (plan.kind === 'lorawan') return sendLorawan(deps, run, command, plan);
  if (!deps.publisher) return { ok: false, retryable: false, message: 'no MQTT publisher is configured', uncertainty: 'no' };
  try {
    await deps.publisher.publish(plan.topic, plan.payload, { qos: plan.qos });
    return { ok: true, queueItemId: null, deliveryState: 'published' };
  } catch (error) {
    // A QoS 1 publish that failed is sent again by the next attempt; the meter's report settles it.
    return { ok: false, retryable: true, message: `publish to ${plan.topic} failed: ${errorMessage(error)}`, uncertainty: 'no' };
  }
}

/** One device's claimed commands, oldest first; after a retryable failure the rest wait their turn. */
async function sendDevice(deps: DispatchDeps, run: DispatchRun, commands: ClaimedCommand[], out: DispatchOutcome[]): Promise<void> {
  const policy = deps.backoff ?? defaultBackoff;
  for (let i = 0; i < commands.length; i++) {
    const command = commands[i]!;
    // sent_at is when the send began, not when it was acknowledged: a device can answer before the
    // broker's PUBACK (or ChirpStack's response) reaches us, and an answer is never older than sent_at.
    const startedAt = deps.now();
    const result = await sendOne(deps, run, command);
    const at = deps.now();
    const sent = (queueItemId: string | null, deliveryState: 'awaiting_device' | 'published') =>
      out.push({ id: command.id, outcome: 'sent', at: at.toISOString(), sent_at: startedAt.toISOString(), queue_item_id: queueItemId, delivery_state: deliveryState });
    if (result.ok) {
      sent(result.queueItemId, result.deliveryState);
      continue;
    }
    if ('notQueued' in result) {
      out.push({ id: command.id, outcome: 'failed', at: at.toISOString(), retry_count: command.retry_count, error: result.message });
      continue;
    }
    const unknown = (resolveAt: Date, error: string) =>
      out.push({ id: command.id, outcome: 'unknown', at: at.toISOString(), sent_at: startedAt.toISOString(), retry_count: command.retry_count, next_attempt_at: resolveAt.toISOString(), error });
    if (command.status === 'sent') {
      // Delivery unknown and the queue could not be listed: look again later, never fail blind. The error
      // that made it unknown stays the command's error.
      deps.logger.warn('command of unknown delivery: the device queue could not be listed; looking again later', { commandId: command.id, error: result.message.slice(0, 300) });
      unknown(nextUnknownLook(command.dispatch_attempts, at, policy), command.error_message ?? result.message);
      continue;
    }
    const next = afterUncertainSend({ retryCount: command.retry_count, maxRetries: command.max_retries }, result, at, policy);
    if (next.kind === 'list_now') {
      const listed = await listAfterAnsweredFailure(deps, run, command);
      if (listed === 'not_queued') out.push({ id: command.id, outcome: 'failed', at: at.toISOString(), retry_count: next.retryCount, error: next.errorMessage });
      else if (listed === 'unreadable') unknown(nextUnknownLook(next.retryCount, at, policy), result.message);
      else sent(listed.queueItemId, 'awaiting_device');
      continue;
    }
    if (next.kind === 'unknown') {
      unknown(next.resolveAt, next.errorMessage);
      continue;
    }
    if (next.kind === 'fail') {
      out.push({ id: command.id, outcome: 'failed', at: at.toISOString(), retry_count: next.retryCount, error: next.errorMessage });
      continue;
    }
    out.push({ id: command.id, outcome: 'retry', at: at.toISOString(), retry_count: next.retryCount, next_attempt_at: next.nextAttemptAt.toISOString(), error: next.errorMessage, unknown_delivery: result.uncertainty !== 'no' });
    for (const rest of commands.slice(i + 1)) out.push({ id: rest.id, outcome: 'released', at: at.toISOString() });
    return;
  }
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * A device can answer while its command's chunk is still being sent (an ESP32 within milliseconds, a
 * txack for a display whose receive window was open): the live feedback then found no sent command, and
 * only the device_events row remains. Those are applied here, once the chunk is recorded.
 *
 * Why this rather than recording each send as it completes: the chunk's one recordOutcomes statement is
 * what keeps dispatch above 1,000 commands/s (one write per send would be a round trip each, and through
 * the Data API a call each), and even a per-send write leaves a window between the send and its write in
 * which an answer finds nothing. Reading the stored events after the write closes that window for one
 * statement per chunk. A failure here is logged, not thrown: the sends are recorded, and a redelivery
 * would find them done and not look again, so throwing would gain nothing.
 */
async function applyConfirmationsThatCameFirst(deps: DispatchDeps, sentIds: readonly string[]): Promise<void> {
  if (!sentIds.length) return;
  try {
    const applied = await applyStoredConfirmations(deps, sentIds);
    if (applied.updated) deps.logger.info('commands answered while they were being dispatched', { ...applied });
  } catch (error) {
    deps.logger.error('could not look for confirmations that arrived during dispatch; those commands wait for their next report or expire', { count: sentIds.length, error: error as Error });
  }
}

/** Dispatches one chunk; returns the devices whose commands it settled (recorded sent, failed or of unknown delivery) while another of theirs waits. */
async function dispatchChunk(deps: DispatchDeps, run: DispatchRun, ids: string[], result: DispatchResult): Promise<Set<string>> {
  const settledDevices = new Set<string>();
  const token = randomUUID();
  const now = deps.now();
  const claimed = await claimCommands(deps.db, ids, token, now, new Date(now.getTime() + (deps.leaseMs ?? DEFAULT_LEASE_MS)));

  const claimedIds = new Set(claimed.map((c) => c.id));
  const unclaimed = ids.filter((id) => !claimedIds.has(id));
  for (const state of await unclaimedState(deps.db, unclaimed)) {
    const open = state.status === 'pending' || state.status === 'queued';
    if (!open || (state.expires_at && state.expires_at <= now)) continue;
    const times = [state.scheduled_at, state.next_attempt_at, state.claimed_until, state.blocked_until, new Date(now.getTime() + RECHECK_MS)];
    result.later.push({ id: state.id, at: new Date(Math.max(...times.filter((t): t is Date => t !== null).map((t) => t.getTime()))) });
  }
  const later = new Set(result.later.map((l) => l.id));
  result.done.push(...unclaimed.filter((id) => !later.has(id)));
  if (!claimed.length) return settledDevices;

  const byDevice = new Map<string, ClaimedCommand[]>();
  for (const c of claimed) byDevice.set(c.device_id, [...(byDevice.get(c.device_id) ?? []), c]);
  const groups = [...byDevice.values()].map((g) => g.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.id < b.id ? -1 : 1)));
  // Urgent devices first: the group's best priority, then age.
  groups.sort((a, b) => Math.min(...a.map((c) => c.priority)) - Math.min(...b.map((c) => c.priority)) || a[0]!.created_at.getTime() - b[0]!.created_at.getTime());

  const outcomes: DispatchOutcome[] = [];
  await pool(groups, deps.concurrency ?? 16, (group) => sendDevice(deps, run, group, outcomes));

  const deviceOf = new Map(claimed.map((c) => [c.id, c.device_id]));
  // The queue item ids are stored here, before anyone is told the commands were sent.
  const recorded = new Map((await recordOutcomes(deps.db, token, outcomes)).map((r) => [r.id, r]));
  const sentNow: string[] = [];
  for (const o of outcomes) {
    const record = recorded.get(o.id);
    if (!record) {
      deps.logger.warn('command outcome not recorded: the claim was lost (lease expired?)', { commandId: o.id, outcome: o.outcome });
      result.later.push({ id: o.id, at: new Date(now.getTime() + RECHECK_MS) });
      continue;
    }
    if (record.contested) {
      deps.logger.warn('command sent with a queue item id another command holds; it will look at the device queue again', { commandId: o.id, queueItemId: o.outcome === 'sent' ? o.queue_item_id : undefined });
      result.later.push({ id: o.id, at: new Date(now.getTime() + RECHECK_MS) });
      continue;
    }
    if (record.release) settledDevices.add(deviceOf.get(o.id)!);
    if (o.outcome === 'sent') sentNow.push(o.id);
    else if (o.outcome === 'failed') result.failed.push(o.id);
    else if (o.outcome === 'retry') result.retrying.push({ id: o.id, at: new Date(o.next_attempt_at) });
    else if (o.outcome === 'unknown') {
      result.unknown.push({ id: o.id, at: new Date(o.next_attempt_at) });
      result.later.push({ id: o.id, at: new Date(o.next_attempt_at) });
    } else result.later.push({ id: o.id, at: new Date(now.getTime() + RECHECK_MS) });
  }
  result.sent.push(...sentNow);
  countDispatched(deps.metrics, outcomes, recorded, new Map(claimed.map((c) => [c.id, c.created_at])));
  await applyConfirmationsThatCameFirst(deps, sentNow);
  const failed = outcomes.filter((o) => o.outcome === 'failed' || o.outcome === 'retry' || o.outcome === 'unknown');
  if (failed.length) {
    deps.logger.warn('commands not sent (or of unknown delivery)', {
      count: failed.length,
      items: failed.slice(0, 20).map((o) => ({ commandId: o.id, outcome: o.outcome, error: 'error' in o ? o.error.slice(0, 200) : undefined })),
    });
  }
  return settledDevices;
}

/**
 * Dispatch the given commands. Safe to call twice with the same ids, concurrently too: each command is
 * sent by at most one call. Throws only when the database cannot be read or written (redeliver then).
 */
export async function dispatch(deps: DispatchDeps, commandIds: readonly string[]): Promise<DispatchResult> {
  const result: DispatchResult = { sent: [], retrying: [], failed: [], unknown: [], later: [], done: [], released: [] };
  const run: DispatchRun = { taken: new Set() };
  const ids = [...new Set(commandIds.map((id) => id.toLowerCase()))];
  result.done.push(...ids.filter((id) => !UUID.test(id)));
  const valid = ids.filter((id) => UUID.test(id));
  let settled = new Set<string>();
  for (let i = 0; i < valid.length; i += MAX_IDS_PER_CLAIM) {
    for (const device of await dispatchChunk(deps, run, valid.slice(i, i + MAX_IDS_PER_CLAIM), result)) settled.add(device);
  }
  // Release on settle: the settled devices' next commands (asked for while these were being sent, or
  // handed to another dispatcher that found them behind these) go out now, not when a lease runs out.
  for (let round = 0; round < MAX_RELEASE_ROUNDS && settled.size; round++) {
    const next = await nextDueCommands(deps.db, [...settled], deps.now(), MAX_IDS_PER_CLAIM);
    if (!next.length) break;
    const round_: DispatchResult = { sent: [], retrying: [], failed: [], unknown: [], later: [], done: [], released: [] };
    settled = await dispatchChunk(deps, run, next, round_);
    result.sent.push(...round_.sent);
    result.retrying.push(...round_.retrying);
    result.failed.push(...round_.failed);
    result.unknown.push(...round_.unknown);
    result.later.push(...round_.later);
    result.released.push(...round_.sent, ...round_.failed, ...round_.unknown.map((u) => u.id), ...round_.retrying.map((r) => r.id));
  }
  return result;
}

function countDispatched(metrics: Metrics | undefined, outcomes: DispatchOutcome[], recorded: Map<string, { contested: boolean }>, createdAt: Map<string, Date>): void {
  if (!metrics) return;
  const byState = new Map<string, number>();
  for (const o of outcomes) {
    const record = recorded.get(o.id);
    if (!record || record.contested) continue;
    byState.set(o.outcome, (byState.get(o.outcome) ?? 0) + 1);
    const created = createdAt.get(o.id);
    if (o.outcome === 'sent' && created) metrics.observe('command_dispatch_latency_seconds', Math.max(0, (new Date(o.at).getTime() - created.getTime()) / 1000));
  }
  for (const [state, n] of byState) metrics.count('commands', n, state);
}
