// Commands as operators and other modules ask for them: relay on/off for one meter or many, ESP32
// balance updates, cancellation, history. A request is checked against the registry before anything is
// stored (unknown meter, no device, no relay: a clear 4xx and nothing queued), the command is stored with
// the exact bytes and fPort it will send, audited in the same transaction, and only then enqueued.
import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import * as z from 'zod';
import type { Db } from '#store/db';
import { mapDbError } from '#store/errors';
import type { Database, DeviceCommand } from '#store/schema';
import { balanceMessage, CommandConfigError, cancellableStatuses, commandStatuses, describeCommand, relayDownlink, type Downlink } from '#domain/commands';
import { AppError, ConflictError, NotFoundError, ValidationError } from '#shared/errors';
import { audit } from '../audit.ts';
import type { Principal } from '#domain/roles';
import { enqueueOrLeaveToSweeper } from './enqueue.ts';
import { DEFAULT_COMMAND_EXPIRY_HOURS, type CommandDeps } from './ports.ts';

interface Actor {
  principal: Principal;
  requestId?: string;
}

const json = (value: unknown) => sql`CAST(${JSON.stringify(value)} AS jsonb)`;

// ---- Inputs ----

const reasonSchema = z.string().trim().min(1, 'say why (it is kept in the audit log)').max(500);
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

export const commandListQuery = z.object({
  status: z.enum(commandStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

// ---- Output ----

export const commandDto = (c: DeviceCommand, now: Date) => ({
  id: c.id,
  type: c.command_type,
  status: c.status,
  statusText: describeCommand(
    { status: c.status, deliveryState: c.delivery_state, commandType: c.command_type, confirmed: c.confirmed, scheduledAt: c.scheduled_at, nextAttemptAt: c.next_attempt_at, errorMessage: c.error_message },
    now,
  ),
  deliveryState: c.delivery_state,
  /** Class A: accepted by the network server, waiting for the device's next uplink. */
  awaitingDevice: c.status === 'sent' && c.delivery_state === 'awaiting_device',
  meterId: c.meter_id,
  deviceId: c.device_id,
  devEui: c.device_eui,
  payloadHex: c.payload_hex,
  fPort: c.f_port,
  confirmed: c.confirmed,
  data: c.command_data,
  priority: c.priority,
  scheduledAt: c.scheduled_at,
  expiresAt: c.expires_at,
  retryCount: c.retry_count,
  maxRetries: c.max_retries,
  nextAttemptAt: c.next_attempt_at,
  error: c.error_message,
  networkQueueItemId: c.network_queue_item_id,
  outcome: c.outcome,
  requestedBy: c.requested_by,
  reason: c.reason,
  createdAt: c.created_at,
  queuedAt: c.queued_at,
  sentAt: c.sent_at,
  transmittedAt: c.transmitted_at,
  confirmedAt: c.confirmed_at,
  failedAt: c.failed_at,
  cancelledAt: c.cancelled_at,
  expiredAt: c.expired_at,
});

// ---- Relay ----

/** A meter with the device that serves it now, as relay requests need them. */
interface MeterTarget {
  meter_id: string;
  meter_no: string;
  device_id: string | null;
  device_type: string | null;
  kind: string | null;
  dev_eui: string | null;
  device_meter_no: string | null;
  lifecycle: string | null;
  capabilities: Record<string, unknown> | null;
  config: Record<string, unknown> | null;
}

/**
 * A meter id as the lookups key it: lowercase, as PostgreSQL prints a uuid. The database compares uuids
 * in any case, but the maps built from its rows do not, so every id a caller hands in goes through here.
 */
const meterKey = (id: string) => id.toLowerCase();

async function loadTargets(db: Db | Transaction<Database>, meterIds: readonly string[]): Promise<Map<string, MeterTarget>> {
  const result = await sql<MeterTarget>`
    SELECT m.id AS meter_id, m.meter_no, d.id AS device_id, d.device_type, d.kind, d.dev_eui, d.meter_no AS device_meter_no,
           d.lifecycle, d.capabilities, d.config
    FROM meters m
    LEFT JOIN meter_devices md ON md.meter_id = m.id AND md.valid_to IS NULL
    LEFT JOIN devices d ON d.id = md.device_id
    WHERE m.id IN (SELECT (value)::uuid FROM jsonb_array_elements_text(${json(meterIds)}))`.execute(db);
  return new Map(result.rows.map((r) => [meterKey(r.meter_id), r]));
}

class TargetError extends Error {
  override name = 'TargetError';
  constructor(
    readonly kind: 'not_found' | 'conflict',
    message: string,
  ) {
    super(message);
  }
}

/** What a relay request for this meter sends, or why it cannot be sent. */
function relayPlan(meterId: string, target: MeterTarget | undefined, action: 'on' | 'off'): { target: MeterTarget; device_id: string; downlink: Downlink } {
  if (!target) throw new TargetError('not_found', `meter ${meterId} does not exist`);
  if (!target.device_id) throw new TargetError('conflict', `meter ${target.meter_no} has no device assigned, so nothing can switch its relay`);
  const name = `${target.device_type ?? 'device'} ${target.dev_eui ?? target.device_meter_no ?? target.device_id}`;
  if (target.lifecycle === 'decommissioned') throw new TargetError('conflict', `meter ${target.meter_no}'s device ${name} is decommissioned`);
  if (target.capabilities?.relay !== true) throw new TargetError('conflict', `meter ${target.meter_no}'s device ${name} has no relay`);
  if (target.kind !== 'lorawan' || !target.dev_eui) throw new TargetError('conflict', `meter ${target.meter_no}'s device ${name} has a relay but no LoRaWAN DevEUI to send it to`);
  try {
    return { target, device_id: target.device_id, downlink: relayDownlink(target.config ?? {}, action) };
  } catch (error) {
    if (error instanceof CommandConfigError) throw new TargetError('conflict', `meter ${target.meter_no}'s device ${name}: ${error.message}`);
    throw error;
  }
}

function expiryFrom(deps: CommandDeps, start: Date): Date {
  return new Date(start.getTime() + (deps.commandExpiryHours ?? DEFAULT_COMMAND_EXPIRY_HOURS) * 3_600_000);
}

interface NewCommandRow {
  device_id: string;
  meter_id: string | null;
  device_eui: string | null;
  command_type: 'relay_on' | 'relay_off' | 'balance_update';
  command_data: Record<string, unknown>;
  payload_hex: string | null;
  f_port: number | null;
  confirmed: boolean;
  priority: number;
  scheduled_at: string | null;
  idempotency_key: string;
  expires_at: string;
  requested_by: string;
  reason: string | null;
}

/** Insert commands in one statement; a repeated idempotency key inserts nothing and returns the existing row. */
async function insertCommands(trx: Db | Transaction<Database>, rows: readonly NewCommandRow[]): Promise<{ created: DeviceCommand[]; existing: DeviceCommand[] }> {
  const inserted = await sql<DeviceCommand>`
    INSERT INTO device_commands (device_id, meter_id, device_eui, command_type, command_data, payload_hex, f_port, confirmed,
      priority, scheduled_at, idempotency_key, expires_at, requested_by, reason)
    SELECT device_id, meter_id, device_eui, command_type, command_data, payload_hex, f_port, confirmed,
           priority, scheduled_at, idempotency_key, expires_at, requested_by, reason
    FROM jsonb_to_recordset(${json(rows)}) AS r(
      device_id uuid, meter_id uuid, device_eui text, command_type text, command_data jsonb, payload_hex text,
      f_port integer, confirmed boolean, priority integer, scheduled_at timestamptz, idempotency_key text,
      expires_at timestamptz, requested_by text, reason text)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *`.execute(trx);
  const created = inserted.rows;
  if (created.length === rows.length) return { created, existing: [] };
  const fresh = new Set(created.map((c) => c.idempotency_key));
  const repeated = rows.filter((r) => !fresh.has(r.idempotency_key)).map((r) => r.idempotency_key);
  const existing = (await sql<DeviceCommand>`SELECT * FROM device_commands WHERE idempotency_key IN (SELECT jsonb_array_elements_text(${json(repeated)}))`.execute(trx)).rows;
  for (const row of rows.filter((r) => repeated.includes(r.idempotency_key))) {
    const found = existing.find((e) => e.idempotency_key === row.idempotency_key);
    if (!found || found.device_id !== row.device_id || found.command_type !== row.command_type || found.meter_id !== row.meter_id) {
      throw new ConflictError(`idempotency key ${row.idempotency_key} was already used for a different command`);
    }
  }
  return { created, existing };
}

async function auditRejection(deps: CommandDeps, actor: Actor, targetId: string | null, details: Record<string, unknown>, error: unknown): Promise<void> {
  if (!(error instanceof AppError) || !error.expose) return;
  try {
    await audit(deps.db, actor.principal, actor.requestId, { action: 'meter.relay.rejected', targetType: 'meter', targetId, details: { ...details, status: error.status, error: error.message, ...(error.extras.errors ? { errors: error.extras.errors } : {}) } });
  } catch (auditError) {
    deps.logger.error('could not audit a rejected relay request', { error: auditError as Error });
  }
}

async function inTransaction<T>(db: Db, what: string, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  try {
    return await db.transaction().execute(work);
  } catch (error) {
    throw mapDbError(error, what);
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

async function auditRelay(trx: Transaction<Database>, actor: Actor, commands: DeviceCommand[], request: RelayRequest, bulk: boolean, repeated = false): Promise<void> {
  if (!commands.length) return;
  await sql`
    INSERT INTO audit_log (actor, role, action, target_type, target_id, details, request_id)
    SELECT ${actor.principal.subject}, ${actor.principal.roles.join(',') || 'none'}, 'meter.relay', 'meter', a.target_id, a.details, ${actor.requestId ?? null}
    FROM jsonb_to_recordset(${json(
      commands.map((c) => ({
        target_id: c.meter_id,
        details: { commandId: c.id, action: request.action, reason: request.reason, scheduledAt: c.scheduled_at, devEui: c.device_eui, payloadHex: c.payload_hex, fPort: c.f_port, bulk, ...(repeated ? { repeated } : {}) },
      })),
    )}) AS a(target_id text, details jsonb)`.execute(trx);
}

async function afterCreate(deps: CommandDeps, commands: DeviceCommand[]): Promise<DeviceCommand[]> {
  const now = deps.now();
  const ready = commands.filter((c) => c.status === 'pending' && (!c.scheduled_at || c.scheduled_at <= now)).map((c) => c.id);
  if (ready.length) await enqueueOrLeaveToSweeper(deps, ready);
  const ids = commands.map((c) => c.id);
  const rows = (await sql<DeviceCommand>`SELECT * FROM device_commands WHERE id IN (SELECT (value)::uuid FROM jsonb_array_elements_text(${json(ids)}))`.execute(deps.db)).rows;
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id)).filter((c): c is DeviceCommand => c !== undefined);
}

/** Switch one meter's relay. Returns the stored command (queued, or pending if scheduled) and whether it was a repeat. */
export async function requestRelay(deps: CommandDeps, requestedMeterId: string, request: RelayRequest, actor: Actor): Promise<{ command: DeviceCommand; repeated: boolean }> {
  const meterId = meterKey(requestedMeterId);
  const key = (id: string) => (request.idempotencyKey ? `relay:${request.idempotencyKey}` : `relay:${id}:${randomUUID()}`);
  let outcome: { created: DeviceCommand[]; existing: DeviceCommand[] };
  try {
    outcome = await inTransaction(deps.db, 'relay command', async (trx) => {
      const targets = await loadTargets(trx, [meterId]);
      let plan: ReturnType<typeof relayPlan>;
      try {
        plan = relayPlan(meterId, targets.get(meterId), request.action);
      } catch (error) {
        if (error instanceof TargetError) throw error.kind === 'not_found' ? new NotFoundError(error.message) : new ConflictError(error.message);
        throw error;
      }
      const stored = await insertCommands(trx, requestRows(deps, request, [{ meterId, plan }], actor, key));
      // A repeated request is audited too, pointing at the command it repeats.
      await auditRelay(trx, actor, stored.created, request, false);
      await auditRelay(trx, actor, stored.existing, request, false, true);
      return stored;
    });
  } catch (error) {
    await auditRejection(deps, actor, meterId, { action: request.action, reason: request.reason }, error);
    throw error;
  }
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
  let stored: { created: DeviceCommand[]; existing: DeviceCommand[] };
  try {
    stored = await inTransaction(deps.db, 'relay commands', async (trx) => {
      const targets = await loadTargets(trx, meterIds);
      const plans: { meterId: string; plan: ReturnType<typeof relayPlan> }[] = [];
      const errors: { path: string; message: string }[] = [];
      meterIds.forEach((meterId, i) => {
        try {
          plans.push({ meterId, plan: relayPlan(meterId, targets.get(meterId), request.action) });
        } catch (error) {
          if (!(error instanceof TargetError)) throw error;
          errors.push({ path: `body.meterIds.${i}`, message: error.message });
        }
      });
      if (errors.length) throw new ValidationError(`no command was queued: ${errors.length} of ${meterIds.length} meters cannot switch a relay`, { errors });
      const result = await insertCommands(trx, requestRows(deps, request, plans, actor, (id) => `relay:${batchKey}:${id}`));
      await auditRelay(trx, actor, result.created, request, true);
      await auditRelay(trx, actor, result.existing, request, true, true);
      return result;
    });
  } catch (error) {
    await auditRejection(deps, actor, null, { action: request.action, reason: request.reason, meterIds }, error);
    throw error;
  }
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
    if (!target) throw new NotFoundError(`meter ${meterId} does not exist`);
    if (!target.device_id || target.kind !== 'esp32' || !target.device_meter_no || target.capabilities?.balance !== true) {
      throw new ConflictError(`meter ${target.meter_no} is not served by an ESP32 meter that keeps a balance`);
    }
    return insertCommands(trx, [
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

export const cancelRequestSchema = z.strictObject({ reason: reasonSchema.optional() });

/** Cancel a command that has not been sent (pending or queued, and not being sent right now). */
export async function cancelCommand(deps: CommandDeps, id: string, reason: string | undefined, actor: Actor): Promise<DeviceCommand> {
  return inTransaction(deps.db, 'command', async (trx) => {
    const now = deps.now();
    const cancelled = await sql<DeviceCommand>`
      UPDATE device_commands
      SET status = 'cancelled', cancelled_at = ${now}, updated_at = ${now},
          outcome = ${json({ via: 'cancel', by: actor.principal.subject, reason: reason ?? null, at: now.toISOString() })}
      WHERE id = ${id}
        AND status IN (SELECT jsonb_array_elements_text(${json(cancellableStatuses)}))
        AND (claimed_until IS NULL OR claimed_until < ${now})
      RETURNING *`.execute(trx);
    const command = cancelled.rows[0];
    if (!command) {
      const current = await trx.selectFrom('device_commands').select(['status', 'claimed_until']).where('id', '=', id).executeTakeFirst();
      if (!current) throw new NotFoundError(`command ${id} does not exist`);
      if (current.status === 'queued' || current.status === 'pending') throw new ConflictError(`command ${id} is being sent right now; look again in a moment`);
      throw new ConflictError(`command ${id} is ${current.status}; only pending or queued commands can be cancelled`);
    }
    await trx.updateTable('actuations').set({ downlink_error: 'cancelled' }).where('command_id', '=', id).execute();
    await audit(trx, actor.principal, actor.requestId, { action: 'command.cancel', targetType: 'device_command', targetId: id, details: { reason: reason ?? null, type: command.command_type, meterId: command.meter_id } });
    return command;
  });
}

export async function getCommand(db: Db, id: string): Promise<DeviceCommand> {
  const command = await db.selectFrom('device_commands').selectAll().where('id', '=', id).executeTakeFirst();
  if (!command) throw new NotFoundError(`command ${id} does not exist`);
  return command;
}

export async function listMeterCommands(db: Db, meterId: string, q: z.infer<typeof commandListQuery>): Promise<DeviceCommand[]> {
  const meter = await db.selectFrom('meters').select('id').where('id', '=', meterId).executeTakeFirst();
  if (!meter) throw new NotFoundError(`meter ${meterId} does not exist`);
  let query = db.selectFrom('device_commands').selectAll().where('meter_id', '=', meterId);
  if (q.status) query = query.where('status', '=', q.status);
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute();
}
