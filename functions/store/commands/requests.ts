// The SQL of commands as operators and other modules ask for them: the meters a request targets with
// their current device, storing new commands (one statement, keyed by idempotency key), their audit rows,
// cancellation (a conditional UPDATE, never while a dispatcher holds the command) and the reads the API
// serves.
import { sql } from 'kysely';
import { json, type Executor, type Tx } from '#store/db';
import type { DeviceCommand } from '#store/schema';
import { cancellableStatuses, type CommandStatus, type CommandType } from '#domain/commands';

/** A meter with the device that serves it now, as relay and balance requests need them. */
export interface MeterTarget {
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

/** The given meters that exist, each with its current device (if it has one). */
export async function meterTargets(db: Executor, meterIds: readonly string[]): Promise<MeterTarget[]> {
  const result = await sql<MeterTarget>`
    SELECT m.id AS meter_id, m.meter_no, d.id AS device_id, d.device_type, d.kind, d.dev_eui, d.meter_no AS device_meter_no,
           d.lifecycle, d.capabilities, d.config
    FROM meters m
    LEFT JOIN meter_current_device md ON md.meter_id = m.id
    LEFT JOIN devices d ON d.id = md.device_id
    WHERE m.id IN (SELECT (value)::uuid FROM jsonb_array_elements_text(${json(meterIds)}))`.execute(db);
  return result.rows;
}

export interface NewCommandRow {
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

/** Insert commands in one statement; a row whose idempotency key is taken is not inserted. Returns those inserted. */
export async function insertCommands(db: Executor, rows: readonly NewCommandRow[]): Promise<DeviceCommand[]> {
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
    RETURNING *`.execute(db);
  return inserted.rows;
}

export async function commandsByIdempotencyKey(db: Executor, keys: readonly string[]): Promise<DeviceCommand[]> {
  return (await sql<DeviceCommand>`SELECT * FROM device_commands WHERE idempotency_key IN (SELECT jsonb_array_elements_text(${json(keys)}))`.execute(db)).rows;
}

export async function commandsByIds(db: Executor, ids: readonly string[]): Promise<DeviceCommand[]> {
  return (await sql<DeviceCommand>`SELECT * FROM device_commands WHERE id IN (SELECT (value)::uuid FROM jsonb_array_elements_text(${json(ids)}))`.execute(db)).rows;
}

/**
 * Cancel a command if it is cancellable (pending or queued) and no dispatcher holds it; mirror it on its
 * display actuations. Returns the cancelled command, or undefined when nothing was cancelled.
 */
export async function cancelIfOpen(db: Tx, id: string, now: Date, outcome: Record<string, unknown>): Promise<DeviceCommand | undefined> {
  const cancelled = await sql<DeviceCommand>`
    UPDATE device_commands
    SET status = 'cancelled', cancelled_at = ${now}, updated_at = ${now},
        outcome = ${json(outcome)}
    WHERE id = ${id}
      AND status IN (SELECT jsonb_array_elements_text(${json(cancellableStatuses)}))
      AND (claimed_until IS NULL OR claimed_until < ${now})
    RETURNING *`.execute(db);
  const command = cancelled.rows[0];
  if (command) await db.updateTable('actuations').set({ downlink_error: 'cancelled' }).where('command_id', '=', id).execute();
  return command;
}

/** A command's status and claim, to say why it could not be cancelled. */
export async function commandClaimState(db: Executor, id: string): Promise<{ status: CommandStatus; claimed_until: Date | null } | undefined> {
  return db.selectFrom('device_commands').select(['status', 'claimed_until']).where('id', '=', id).executeTakeFirst();
}

export async function findCommand(db: Executor, id: string): Promise<DeviceCommand | undefined> {
  return db.selectFrom('device_commands').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface CommandFilter {
  deviceId?: string | undefined;
  meterId?: string | undefined;
  /** One status, or any of several (all when empty). */
  status?: CommandStatus | readonly CommandStatus[] | undefined;
  type?: CommandType | undefined;
  /** Whose state changed at or after this time. */
  since?: Date | undefined;
  /** Created at or after. */
  from?: Date | undefined;
  /** Created before. */
  to?: Date | undefined;
  limit: number;
  offset: number;
}

/** Commands across the fleet (or one device's, one meter's), newest first, with the filter's total. */
export async function listCommands(db: Executor, filter: CommandFilter): Promise<{ items: DeviceCommand[]; total: number }> {
  let query = db.selectFrom('device_commands');
  if (filter.deviceId) query = query.where('device_id', '=', filter.deviceId);
  if (filter.meterId) query = query.where('meter_id', '=', filter.meterId);
  if (typeof filter.status === 'string') query = query.where('status', '=', filter.status);
  else if (filter.status?.length) query = query.where('status', 'in', filter.status);
  if (filter.since) query = query.where('updated_at', '>=', filter.since);
  if (filter.type) query = query.where('command_type', '=', filter.type);
  if (filter.from) query = query.where('created_at', '>=', filter.from);
  if (filter.to) query = query.where('created_at', '<', filter.to);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).offset(filter.offset).execute(),
    query.select(sql<number>`count(*)::integer`.as('total')).executeTakeFirstOrThrow(),
  ]);
  return { items, total: Number(count.total) };
}

