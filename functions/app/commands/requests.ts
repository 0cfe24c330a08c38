// Commands as operators and other modules ask for them: relay on/off for one meter or many, ESP32
// balance updates, cancellation, history. A request is checked against the registry before anything is
// stored (unknown meter, no device, no relay: a clear 4xx and nothing queued), the command is stored with
// the exact bytes and fPort it will send, audited in the same transaction, and only then enqueued.
import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { inTransaction, type Db, type Tx } from '#store/db';
import type { DeviceCommand } from '#store/schema';
import {
  cancelIfOpen,
  commandClaimState,
  commandsByIdempotencyKey,
  commandsByIds,
  findCommand,
  insertCommands,
  listCommands as storeListCommands,
  meterTargets,
  type MeterTarget,
  type CommandFilter,
  type NewCommandRow,
} from '#store/commands/requests';
import { findDevice, findMeter } from '#store/registry';
import { balanceMessage, CommandConfigError, relayDownlink, type Downlink } from '#domain/commands';
import { audit, auditAll, type Actor } from '../audit.ts';
import { enqueueOrLeaveToSweeper, releaseNext } from './enqueue.ts';
import {
  BalanceNotPossibleError,
  BulkRelayRejectedError,
  CommandDeviceNotFoundError,
  CommandMeterNotFoundError,
  CommandNotCancellableError,
  CommandNotFoundError,
  IdempotencyKeyReusedError,
  RelayNotPossibleError,
} from './errors.ts';
import { DEFAULT_COMMAND_EXPIRY_HOURS, type CommandDeps } from './ports.ts';

// ---- Inputs ----

export const reasonSchema = z.string().trim().min(1, 'say why (it is kept in the audit log)').max(500);
const idempotencyKeySchema = z.string().regex(/^[A-Za-z0-9._:-]{8,128}$/, '8-128 letters, digits, . _ : -');

/** A request may be a little late (clocks, a slow client): up to a minute in the past means "now". */
const SCHEDULE_PAST_TOLERANCE_MS = 60_000;
/** Nobody schedules a switch further ahead than this; it also keeps scheduledAt + expiry a valid date. */
const SCHEDULE_HORIZON_MS = 366 * 86_400_000;

// Checked against the wall clock: the schema is the HTTP edge's, and the edge has no other notion of now.
const scheduledAtSchema = z.coerce
  .date()
  .refine((at) => at.getTime() >= Date.now() - SCHEDULE_PAST_TOLERANCE_MS, 'must not be more than a minute in the past')
  .refine((at) => at.getTime() <= Date.now() + SCHEDULE_HORIZON_MS, 'must be at most a year ahead');

export const relayRequestSchema = z.strictObject({
  action: z.enum(['on', 'off']),
  reason: reasonSchema,
  /** Send no earlier than this (e.g. reconnect after a payment window). */
  scheduledAt: scheduledAtSchema.optional(),
  priority: z.number().int().min(1).max(10).default(5),
  /** Repeat a request safely: the same key returns the command it created. */
  idempotencyKey: idempotencyKeySchema.optional(),
});
export type RelayRequest = z.infer<typeof relayRequestSchema>;

export const bulkRelayRequestSchema = relayRequestSchema.extend({
  meterIds: z
    .array(z.uuid('must be a UUID'))
    .min(1)
    .max(500)
    .refine((ids) => new Set(ids.map((i) => i.toLowerCase())).size === ids.length, 'each meter at most once'),
});
export type BulkRelayRequest = z.infer<typeof bulkRelayRequestSchema>;

// ---- Relay ----

/**
 * A meter id as the lookups key it: lowercase, as PostgreSQL prints a uuid. The database compares uuids
 * in any case, but the maps built from its rows do not, so every id a caller hands in goes through here.
 */
const meterKey = (id: string) => id.toLowerCase();

async function loadTargets(db: Tx, meterIds: readonly string[]): Promise<Map<string, MeterTarget>> {
  return new Map((await meterTargets(db, meterIds)).map((r) => [meterKey(r.meter_id), r]));
}

/** What a relay request for this meter sends, or why it cannot be sent. */
function relayPlan(meterId: string, target: MeterTarget | undefined, action: 'on' | 'off'): { target: MeterTarget; device_id: string; downlink: Downlink } {
  if (!target) throw new CommandMeterNotFoundError(meterId);
  if (!target.device_id) throw new RelayNotPossibleError(`meter ${target.meter_no} has no device assigned, so nothing can switch its relay`);
  const name = `${target.device_type ?? 'device'} ${target.dev_eui ?? target.device_meter_no ?? target.device_id}`;
  if (target.lifecycle === 'decommissioned') throw new RelayNotPossibleError(`meter ${target.meter_no}'s device ${name} is decommissioned`);
  if (target.capabilities?.relay !== true) throw new RelayNotPossibleError(`meter ${target.meter_no}'s device ${name} has no relay`);
  if (target.kind !== 'lorawan' || !target.dev_eui) throw new RelayNotPossibleError(`meter ${target.meter_no}'s device ${name} has a relay but no LoRaWAN DevEUI to send it to`);
  try {
    return { target, device_id: target.device_id, downlink: relayDownlink(target.config ?? {}, action) };
  } catch (error) {
    if (error instanceof CommandConfigError) throw new RelayNotPossibleError(`meter ${target.meter_no}'s device ${name}: ${error.message}`, {}, { cause: error });
    throw error;
  }
}

function expiryFrom(deps: CommandDeps, start: Date): Date {
  return new Date(start.getTime() + (deps.commandExpiryHours ?? DEFAULT_COMMAND_EXPIRY_HOURS) * 3_600_000);
}

/** Store commands in one statement; a repeated idempotency key inserts nothing and returns the existing row. */
async function storeCommands(trx: Tx, rows: readonly NewCommandRow[]): Promise<{ created: DeviceCommand[]; existing: DeviceCommand[] }> {
  const created = await insertCommands(trx, rows);
  if (created.length === rows.length) return { created, existing: [] };
  const fresh = new Set(created.map((c) => c.idempotency_key));
  const repeated = rows.filter((r) => !fresh.has(r.idempotency_key)).map((r) => r.idempotency_key);
  const existing = await commandsByIdempotencyKey(trx, repeated);
  for (const row of rows.filter((r) => repeated.includes(r.idempotency_key))) {
    const found = existing.find((e) => e.idempotency_key === row.idempotency_key);
    if (!found || found.device_id !== row.device_id || found.command_type !== row.command_type || found.meter_id !== row.meter_id) {
      throw new IdempotencyKeyReusedError(row.idempotency_key);
    }
  }
  return { created, existing };
}

/** How the edge answered a refused relay request: what the audit row of the refusal records. */
export interface RelayRefusal {
  status: number;
  error: string;
  errors?: unknown;
}

/**
 * Audit a refused relay request (unknown meter, no relay, a bulk list with meters that cannot switch...).
 * The HTTP edge calls it, since only it knows how the refusal was answered; a failure to audit is logged,
 * never put in place of the refusal.
 */
export async function auditRelayRejection(
  deps: CommandDeps,
  actor: Actor,
  request: { action: string; reason: string; meterId?: string; meterIds?: readonly string[] },
  refusal: RelayRefusal,
): Promise<void> {
  const targetId = request.meterId !== undefined ? meterKey(request.meterId) : null;
  const details = { action: request.action, reason: request.reason, ...(request.meterIds ? { meterIds: request.meterIds.map(meterKey) } : {}) };
  try {
    await audit(deps.db, actor.principal, actor.requestId, { action: 'meter.relay.rejected', targetType: 'meter', targetId, details: { ...details, ...refusal } });
  } catch (auditError) {
    deps.logger.error('could not audit a rejected relay request', { error: auditError as Error });
  }
}

function requestRows(deps: CommandDeps, request: RelayRequest, plans: { meterId: string; plan: ReturnType<typeof relayPlan> }[], actor: Actor, keyOf: (meterId: string) => string): NewCommandRow[] {
  const now = deps.now();
  const scheduled = request.scheduledAt && request.scheduledAt > now ? request.scheduledAt : null;
  return plans.map(({ meterId, plan }) => ({
    device_id: plan.device_id,
    meter_id: meterId,
    device_eui: plan.target.dev_eui,
    command_type: request.action === 'on' ? 'relay_on' : 'relay_off',
    command_data: { action: request.action, meterNo: plan.target.meter_no, ...(plan.target.config?.relay ? { relay: plan.target.config.relay } : {}) },
    payload_hex: plan.downlink.payloadHex,
    f_port: plan.downlink.fPort,
    confirmed: plan.downlink.confirmed,
    priority: request.priority,
    scheduled_at: scheduled ? scheduled.toISOString() : null,
    idempotency_key: keyOf(meterId),
    expires_at: expiryFrom(deps, scheduled ?? now).toISOString(),
    requested_by: actor.principal.subject,
    reason: request.reason,
  }));
}

async function auditRelay(trx: Tx, actor: Actor, commands: DeviceCommand[], request: RelayRequest, bulk: boolean, repeated = false): Promise<void> {
  await auditAll(
    trx,
    actor.principal,
    actor.requestId,
    commands.map((c) => ({
      action: 'meter.relay',
      targetType: 'meter',
      targetId: c.meter_id,
      details: { commandId: c.id, action: request.action, reason: request.reason, scheduledAt: c.scheduled_at, devEui: c.device_eui, payloadHex: c.payload_hex, fPort: c.f_port, bulk, ...(repeated ? { repeated } : {}) },
    })),
  );
}


async function afterCreate(deps: CommandDeps, commands: DeviceCommand[]): Promise<DeviceCommand[]> {
  const now = deps.now();
  const ready = commands.filter((c) => c.status === 'pending' && (!c.scheduled_at || c.scheduled_at <= now)).map((c) => c.id);
  if (ready.length) await enqueueOrLeaveToSweeper(deps, ready);
  const ids = commands.map((c) => c.id);
  const rows = await commandsByIds(deps.db, ids);
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id)).filter((c): c is DeviceCommand => c !== undefined);
}

/** Switch one meter's relay. Returns the stored command (queued, or pending if scheduled) and whether it was a repeat. */
export async function requestRelay(deps: CommandDeps, requestedMeterId: string, request: RelayRequest, actor: Actor): Promise<{ command: DeviceCommand; repeated: boolean }> {
  const meterId = meterKey(requestedMeterId);
  const key = (id: string) => (request.idempotencyKey ? `relay:${request.idempotencyKey}` : `relay:${id}:${randomUUID()}`);
  const outcome = await inTransaction(deps.db, 'relay command', async (trx) => {
    const targets = await loadTargets(trx, [meterId]);
    const plan = relayPlan(meterId, targets.get(meterId), request.action);
    const stored = await storeCommands(trx, requestRows(deps, request, [{ meterId, plan }], actor, key));
    // A repeated request is audited too, pointing at the command it repeats.
    await auditRelay(trx, actor, stored.created, request, false);
    await auditRelay(trx, actor, stored.existing, request, false, true);
    return stored;
  });
  const [command] = await afterCreate(deps, [...outcome.created, ...outcome.existing]);
  if (!command) throw new Error(`relay command for meter ${meterId} vanished after it was stored`);
  return { command, repeated: outcome.created.length === 0 };
}

/**
 * Switch many meters' relays. All or nothing: if any meter cannot take the command, none is queued and
 * the error lists every meter that cannot, so the operator fixes the list once.
 */
export async function requestRelayBulk(deps: CommandDeps, request: BulkRelayRequest, actor: Actor): Promise<DeviceCommand[]> {
  const meterIds = request.meterIds.map(meterKey);
  const batchKey = request.idempotencyKey ?? randomUUID();
  const stored = await inTransaction(deps.db, 'relay commands', async (trx) => {
    const targets = await loadTargets(trx, meterIds);
    const plans: { meterId: string; plan: ReturnType<typeof relayPlan> }[] = [];
    const errors: { path: string; message: string }[] = [];
    meterIds.forEach((meterId, i) => {
      try {
        plans.push({ meterId, plan: relayPlan(meterId, targets.get(meterId), request.action) });
      } catch (error) {
        if (!(error instanceof CommandMeterNotFoundError || error instanceof RelayNotPossibleError)) throw error;
        errors.push({ path: `body.meterIds.${i}`, message: error.message });
      }
    });
    if (errors.length) throw new BulkRelayRejectedError(`no command was queued: ${errors.length} of ${meterIds.length} meters cannot switch a relay`, { errors });
    const result = await storeCommands(trx, requestRows(deps, request, plans, actor, (id) => `relay:${batchKey}:${id}`));
    await auditRelay(trx, actor, result.created, request, true);
    await auditRelay(trx, actor, result.existing, request, true, true);
    return result;
  });
  return afterCreate(deps, [...stored.created, ...stored.existing]);
}

// ---- ESP32 balance ----

export const balanceUpdateSchema = z.object({
  meterId: z.uuid(),
  /** The balance the meter should show, in its units (the seed's ESP32 firmware takes a number). */
  balance: z.number(),
  /** Billing's idempotency key for this update (e.g. the payment or billing period). */
  idempotencyKey: z.string().min(1).max(200),
  reason: z.string().max(500).optional(),
  requestedBy: z.string().min(1).max(200).default('system:billing'),
});

/** Queue a balance update for the ESP32 meter serving a meter (for billing and payments). */
export async function requestBalanceUpdate(deps: CommandDeps, input: z.input<typeof balanceUpdateSchema>): Promise<DeviceCommand> {
  const request = balanceUpdateSchema.parse(input);
  const meterId = meterKey(request.meterId);
  const now = deps.now();
  const stored = await inTransaction(deps.db, 'balance update', async (trx) => {
    const target = (await loadTargets(trx, [meterId])).get(meterId);
    if (!target) throw new CommandMeterNotFoundError(meterId);
    if (!target.device_id || target.kind !== 'esp32' || !target.device_meter_no || target.capabilities?.balance !== true) {
      throw new BalanceNotPossibleError(`meter ${target.meter_no} is not served by an ESP32 meter that keeps a balance`);
    }
    return storeCommands(trx, [
      {
        device_id: target.device_id,
        meter_id: meterId,
        device_eui: null,
        command_type: 'balance_update',
        command_data: balanceMessage(request.balance, now),
        payload_hex: null,
        f_port: null,
        confirmed: false,
        priority: 4,
        scheduled_at: null,
        idempotency_key: `balance:${request.idempotencyKey}`,
        expires_at: expiryFrom(deps, now).toISOString(),
        requested_by: request.requestedBy,
        reason: request.reason ?? null,
      },
    ]);
  });
  const [command] = await afterCreate(deps, [...stored.created, ...stored.existing]);
  if (!command) throw new Error('balance update vanished after it was stored');
  return command;
}

// ---- Cancel, read ----

/** Cancel a command that has not been sent (pending or queued, and not being sent right now). */
export async function cancelCommand(deps: CommandDeps, id: string, reason: string | undefined, actor: Actor): Promise<DeviceCommand> {
  const cancelled = await inTransaction(deps.db, 'command', async (trx) => {
    const now = deps.now();
    const command = await cancelIfOpen(trx, id, now, { via: 'cancel', by: actor.principal.subject, reason: reason ?? null, at: now.toISOString() });
    if (!command) {
      const current = await commandClaimState(trx, id);
      if (!current) throw new CommandNotFoundError(id);
      if (current.status === 'queued' || current.status === 'pending') throw new CommandNotCancellableError(`command ${id} is being sent right now; look again in a moment`);
      throw new CommandNotCancellableError(`command ${id} is ${current.status}; only pending or queued commands can be cancelled`);
    }
    await audit(trx, actor.principal, actor.requestId, { action: 'command.cancel', targetType: 'device_command', targetId: id, details: { reason: reason ?? null, type: command.command_type, meterId: command.meter_id } });
    return command;
  });
  await releaseNext(deps, [cancelled.device_id]);
  return cancelled;
}

export async function getCommand(db: Db, id: string): Promise<DeviceCommand> {
  const command = await findCommand(db, id);
  if (!command) throw new CommandNotFoundError(id);
  return command;
}

/** Which commands to list, newest first. */
/** What a command list may filter on; the meter or device comes from the path. */
export type CommandListFilter = Omit<CommandFilter, 'meterId' | 'deviceId'>;

export interface CommandList {
  items: DeviceCommand[];
  total: number;
}

export async function listMeterCommands(db: Db, meterId: string, filter: CommandListFilter): Promise<CommandList> {
  if (!(await findMeter(db, meterId))) throw new CommandMeterNotFoundError(meterId);
  return storeListCommands(db, { ...filter, meterId });
}

/** A device's commands (relay, display, balance...), newest first; an unknown device is a 404. */
export async function listDeviceCommands(db: Db, deviceId: string, filter: CommandListFilter): Promise<CommandList> {
  if (!(await findDevice(db, deviceId))) throw new CommandDeviceNotFoundError(deviceId);
  return storeListCommands(db, { ...filter, deviceId });
}

/** Commands across the fleet, by status, type and creation time. */
export const listCommands = (db: Db, filter: CommandListFilter): Promise<CommandList> => storeListCommands(db, filter);
