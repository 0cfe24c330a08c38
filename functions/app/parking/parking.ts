// Parking spaces operated through the API: create, change, retire; their sensor and display (swaps keep
// history); reservations (RESERVED for their window, overlaps refused); an operator's override or
// maintenance and its release. Every state change that the display should show becomes a display command
// through the command system, with its actuation audit row, and is enqueued once its transaction commits.
import * as z from 'zod';
import { inTransaction, type Db, type Tx } from '#store/db';
import { findDevice } from '#store/registry';
import type { Listed } from '#store/registry';
import * as store from '#store/parking';
import type { ActuationTrigger, Actuation, OccupancyEvent, ParkingReservation, ParkingSpace } from '#store/schema';
import { resolveDisplayActuation } from '#domain/display';
import { releasedState, restingState, spaceStates, type SpaceState } from '#domain/parking';
import { audit, type Actor } from '../audit.ts';
import { enqueueOrLeaveToSweeper, type EnqueueDeps } from '../commands/enqueue.ts';
import { DEFAULT_COMMAND_EXPIRY_HOURS } from '../commands/ports.ts';
import { ReservationClosedError, ReservationNotFoundError, ReservationOverlapError, SpaceDeviceError, SpaceNotFoundError, SpaceRetiredError } from './errors.ts';

export interface ParkingDeps extends EnqueueDeps {
  commandExpiryHours?: number | undefined;
}

// ---- Inputs ----

const code = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (1-64), starting with a letter or digit');
const reason = z.string().trim().min(1, 'say why (it is kept in the audit log)').max(500);

export const spaceInput = z.strictObject({
  code,
  name: z.string().trim().min(1).max(200),
  siteId: z.uuid().optional(),
  zone: z.string().trim().min(1).max(100).optional(),
  sensorDeviceId: z.uuid().optional(),
  displayDeviceId: z.uuid().optional(),
});
export type SpaceInput = z.infer<typeof spaceInput>;

export const spacePatch = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  siteId: z.uuid().nullable().optional(),
  zone: z.string().trim().min(1).max(100).nullable().optional(),
  /** Swap (or remove, with null) the occupancy sensor; the previous one's period is kept in the history. */
  sensorDeviceId: z.uuid().nullable().optional(),
  displayDeviceId: z.uuid().nullable().optional(),
});
export type SpacePatch = z.infer<typeof spacePatch>;

export const reservationInput = z
  .strictObject({
    from: z.coerce.date(),
    to: z.coerce.date(),
    reference: z.string().trim().min(1).max(200),
  })
  .refine((r) => r.to > r.from, { path: ['to'], message: 'must be after from' })
  .refine((r) => r.to.getTime() - r.from.getTime() <= 31 * 86_400_000, { path: ['to'], message: 'a reservation lasts at most 31 days' });
export type ReservationInput = z.infer<typeof reservationInput>;

export const overrideInput = z.strictObject({ state: z.enum(spaceStates), reason });
export const releaseInput = z.strictObject({ reason: reason.optional() });
export const cancelInput = z.strictObject({ reason: reason.optional() });

// ---- Display actuation ----

/**
 * Set the space's state and, when it changes and the space has a display with a code for it, store the
 * display command and its actuation row. Returns the command id to enqueue after commit.
 */
async function changeState(
  trx: Tx,
  deps: ParkingDeps,
  space: ParkingSpace,
  next: SpaceState,
  trigger: ActuationTrigger,
  source: string,
  requestedBy: string,
  extra: { override_reason?: string | null; override_by?: string | null } = {},
): Promise<string[]> {
  const now = deps.now();
  await store.updateSpace(trx, space.id, { current_state: next, ...(next !== space.current_state ? { state_changed_at: now } : {}), ...extra });
  if (next === space.current_state || !space.display_device_id || !space.display_dev_eui) return [];
  const display = await findDevice(trx, space.display_device_id);
  if (!display || display.lifecycle === 'decommissioned') return [];
  let actuation;
  try {
    actuation = resolveDisplayActuation(display.config, next);
  } catch (error) {
    deps.logger.warn('display not actuated', { spaceId: space.id, state: next, reason: (error as Error).message });
    return [];
  }
  const id = await store.insertDisplayActuation(trx, {
    space_id: space.id,
    device_id: display.id,
    dev_eui: space.display_dev_eui,
    payload_hex: actuation.payloadHex,
    f_port: actuation.fPort,
    confirmed: actuation.confirmed,
    trigger,
    trigger_source: source,
    previous_state: space.current_state,
    new_state: next,
    idempotency_key: `display:${trigger}:${source}:${now.getTime()}:${next}`,
    expires_at: new Date(now.getTime() + (deps.commandExpiryHours ?? DEFAULT_COMMAND_EXPIRY_HOURS) * 3_600_000).toISOString(),
    requested_by: requestedBy,
    reason: trigger,
  });
  return id ? [id] : [];
}

async function afterCommit<T>(deps: ParkingDeps, outcome: { value: T; commands: string[] }): Promise<T> {
  if (outcome.commands.length) await enqueueOrLeaveToSweeper(deps, outcome.commands);
  return outcome.value;
}

async function lockSpace(trx: Tx, id: string, { allowRetired = false } = {}): Promise<ParkingSpace> {
  const space = await store.findSpaceForUpdate(trx, id);
  if (!space) throw new SpaceNotFoundError(id);
  if (space.retired_at && !allowRetired) throw new SpaceRetiredError(id);
  return space;
}

/** A device fit to be a space's sensor (occupancy) or display. */
async function requireSpaceDevice(trx: Tx, deviceId: string, role: 'sensor' | 'display', field: string): Promise<void> {
  const device = await findDevice(trx, deviceId);
  const capability = role === 'sensor' ? 'occupancy' : 'display';
  const problem = !device
    ? `device ${deviceId} does not exist`
    : device.lifecycle === 'decommissioned'
      ? `device ${deviceId} is decommissioned`
      : device.capabilities[capability] !== true
        ? `device ${deviceId} (${device.device_type}) has no ${capability} capability`
        : !device.dev_eui
          ? `device ${deviceId} has no DevEUI`
          : undefined;
  if (problem) throw new SpaceDeviceError(problem, { errors: [{ path: field, message: problem }] });
}

// ---- Spaces ----

export async function createSpace(deps: ParkingDeps, input: SpaceInput, actor: Actor): Promise<ParkingSpace> {
  return inTransaction(deps.db, `parking space ${input.code}`, async (trx) => {
    if (input.sensorDeviceId) await requireSpaceDevice(trx, input.sensorDeviceId, 'sensor', 'body.sensorDeviceId');
    if (input.displayDeviceId) await requireSpaceDevice(trx, input.displayDeviceId, 'display', 'body.displayDeviceId');
    const space = await store.insertSpace(trx, { code: input.code, name: input.name, site_id: input.siteId ?? null, zone: input.zone ?? null });
    const now = deps.now();
    if (input.sensorDeviceId) await store.assignSpaceDevice(trx, space.id, 'sensor', input.sensorDeviceId, now);
    if (input.displayDeviceId) await store.assignSpaceDevice(trx, space.id, 'display', input.displayDeviceId, now);
    await audit(trx, actor.principal, actor.requestId, { action: 'parking_space.create', targetType: 'parking_space', targetId: space.id, details: input });
    return (await store.findSpace(trx, space.id))!;
  });
}

export async function updateSpace(deps: ParkingDeps, id: string, patch: SpacePatch, actor: Actor): Promise<ParkingSpace> {
  return inTransaction(deps.db, `parking space ${id}`, async (trx) => {
    const before = await lockSpace(trx, id);
    const now = deps.now();
    if (patch.sensorDeviceId) await requireSpaceDevice(trx, patch.sensorDeviceId, 'sensor', 'body.sensorDeviceId');
    if (patch.displayDeviceId) await requireSpaceDevice(trx, patch.displayDeviceId, 'display', 'body.displayDeviceId');
    if (patch.sensorDeviceId !== undefined && patch.sensorDeviceId !== before.sensor_device_id) await store.assignSpaceDevice(trx, id, 'sensor', patch.sensorDeviceId, now);
    if (patch.displayDeviceId !== undefined && patch.displayDeviceId !== before.display_device_id) await store.assignSpaceDevice(trx, id, 'display', patch.displayDeviceId, now);
    const after = await store.updateSpace(trx, id, {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.siteId !== undefined ? { site_id: patch.siteId } : {}),
      ...(patch.zone !== undefined ? { zone: patch.zone } : {}),
    });
    const fields = ['name', 'site_id', 'zone', 'sensor_device_id', 'display_device_id'] as const;
    const changed = fields.filter((f) => before[f] !== after[f]);
    await audit(trx, actor.principal, actor.requestId, {
      action: 'parking_space.update',
      targetType: 'parking_space',
      targetId: id,
      details: { patch, before: Object.fromEntries(changed.map((f) => [f, before[f]])), after: Object.fromEntries(changed.map((f) => [f, after[f]])) },
    });
    return after;
  });
}

/** Retire a space: it leaves lists and occupancy, its devices are freed (history kept), open reservations cancelled. */
export async function retireSpace(deps: ParkingDeps, id: string, actor: Actor): Promise<ParkingSpace> {
  return inTransaction(deps.db, `parking space ${id}`, async (trx) => {
    const space = await lockSpace(trx, id);
    const now = deps.now();
    if (space.sensor_device_id) await store.assignSpaceDevice(trx, id, 'sensor', null, now);
    if (space.display_device_id) await store.assignSpaceDevice(trx, id, 'display', null, now);
    for (const r of await store.overlappingReservations(trx, id, now, new Date('9999-01-01T00:00:00Z'))) await store.setReservationStatus(trx, r.id, 'cancelled', now, 'space retired');
    const retired = await store.updateSpace(trx, id, { retired_at: now });
    await audit(trx, actor.principal, actor.requestId, { action: 'parking_space.retire', targetType: 'parking_space', targetId: id });
    return retired;
  });
}

export async function getSpace(db: Db, id: string): Promise<{ space: ParkingSpace; reservation: ParkingReservation | null; history: store.SpaceDeviceHistory[] }> {
  const space = await store.findSpace(db, id);
  if (!space) throw new SpaceNotFoundError(id);
  const [reservation] = await store.activeReservations(db, [id]);
  return { space, reservation: reservation ?? null, history: await store.spaceDeviceHistory(db, id) };
}

export async function listSpaces(db: Db, filter: store.SpaceFilter): Promise<Listed<{ space: ParkingSpace; reservation: ParkingReservation | null }>> {
  const listed = await store.listSpaces(db, filter);
  const active = new Map((await store.activeReservations(db, listed.items.map((s) => s.id))).map((r) => [r.space_id, r]));
  return { total: listed.total, items: listed.items.map((space) => ({ space, reservation: active.get(space.id) ?? null })) };
}

// ---- Override and maintenance ----

/** Set a space's state by hand (MAINTENANCE included), with a reason: a manual_override actuation, audited. */
export async function overrideSpace(deps: ParkingDeps, id: string, input: z.infer<typeof overrideInput>, actor: Actor): Promise<ParkingSpace> {
  return afterCommit(
    deps,
    await inTransaction(deps.db, `parking space ${id}`, async (trx) => {
      const space = await lockSpace(trx, id);
      const commands = await changeState(trx, deps, space, input.state, 'manual_override', `operator:${actor.principal.subject}`, actor.principal.subject, { override_reason: input.reason, override_by: actor.principal.subject });
      await audit(trx, actor.principal, actor.requestId, { action: 'parking_space.override', targetType: 'parking_space', targetId: id, details: { from: space.current_state, to: input.state, reason: input.reason, commandIds: commands } });
      return { value: (await store.findSpace(trx, id))!, commands };
    }),
  );
}

/** End an override or maintenance: back to RESERVED if a reservation is open, else to what the sensor says (system_cleanup). */
export async function releaseSpace(deps: ParkingDeps, id: string, why: string | undefined, actor: Actor): Promise<ParkingSpace> {
  return afterCommit(
    deps,
    await inTransaction(deps.db, `parking space ${id}`, async (trx) => {
      const space = await lockSpace(trx, id);
      const [open] = await store.activeReservations(trx, [id]);
      const next = releasedState(space.sensor_state, open !== undefined);
      const commands = await changeState(trx, deps, space, next, 'system_cleanup', `operator:${actor.principal.subject}`, actor.principal.subject, { override_reason: null, override_by: null });
      await audit(trx, actor.principal, actor.requestId, { action: 'parking_space.release', targetType: 'parking_space', targetId: id, details: { from: space.current_state, to: next, reason: why ?? null, commandIds: commands } });
      return { value: (await store.findSpace(trx, id))!, commands };
    }),
  );
}

// ---- Reservations ----

/** Start a reservation whose window has opened: RESERVED (unless under maintenance), display actuated. */
async function startReservation(trx: Tx, deps: ParkingDeps, space: ParkingSpace, r: ParkingReservation, by: string): Promise<string[]> {
  await store.setReservationStatus(trx, r.id, 'active', deps.now());
  if (space.current_state === 'MAINTENANCE') return [];
  return changeState(trx, deps, space, 'RESERVED', 'api_reservation', `reservation:${r.id}`, by);
}

/** End a reservation (expired or cancelled): a RESERVED space goes back to what its sensor says. */
async function endReservation(trx: Tx, deps: ParkingDeps, space: ParkingSpace, r: ParkingReservation, how: { status: 'ended' | 'cancelled'; trigger: ActuationTrigger; by: string; reason?: string | null }): Promise<string[]> {
  const wasActive = r.status === 'active';
  await store.setReservationStatus(trx, r.id, how.status, deps.now(), how.reason);
  if (!wasActive || space.current_state !== 'RESERVED') return [];
  return changeState(trx, deps, space, restingState(space.sensor_state), how.trigger, `reservation:${r.id}`, how.by);
}

/**
 * Reserve a space for [from, to): refused (409) when another open reservation shares part of the window.
 * A window already open sets RESERVED and actuates the display now; a later one is started by the
 * reservations job when it opens.
 */
export async function reserveSpace(deps: ParkingDeps, spaceId: string, input: ReservationInput, actor: Actor): Promise<ParkingReservation> {
  const now = deps.now();
  if (input.to <= now) throw new ReservationClosedError('the reservation window has already ended');
  return afterCommit(
    deps,
    await inTransaction(deps.db, 'reservation', async (trx) => {
      const space = await lockSpace(trx, spaceId);
      const clash = await store.overlappingReservations(trx, spaceId, input.from, input.to);
      if (clash.length) {
        throw new ReservationOverlapError(`space ${space.code} is already reserved for part of that window`, { overlapping: clash.map((c) => ({ id: c.id, from: c.starts_at, to: c.ends_at, reference: c.reference })) });
      }
      const reservation = await store.insertReservation(trx, { space_id: spaceId, starts_at: input.from, ends_at: input.to, reference: input.reference, created_by: actor.principal.subject });
      const commands = input.from <= now ? await startReservation(trx, deps, space, reservation, actor.principal.subject) : [];
      await audit(trx, actor.principal, actor.requestId, { action: 'parking_reservation.create', targetType: 'parking_space', targetId: spaceId, details: { reservationId: reservation.id, from: input.from, to: input.to, reference: input.reference, commandIds: commands } });
      const [stored] = await store.overlappingReservations(trx, spaceId, input.from, input.to);
      return { value: stored ?? reservation, commands };
    }),
  );
}

export async function cancelReservation(deps: ParkingDeps, id: string, why: string | undefined, actor: Actor): Promise<ParkingReservation> {
  return afterCommit(
    deps,
    await inTransaction(deps.db, 'reservation', async (trx) => {
      const first = await store.findReservationForUpdate(trx, id);
      if (!first) throw new ReservationNotFoundError(id);
      // Space first, then reservation, as the job locks them.
      const space = await lockSpace(trx, first.space_id, { allowRetired: true });
      const r = (await store.findReservationForUpdate(trx, id))!;
      if (r.status !== 'scheduled' && r.status !== 'active') throw new ReservationClosedError(`reservation ${id} is already ${r.status}`);
      const commands = await endReservation(trx, deps, space, r, { status: 'cancelled', trigger: 'api_reservation', by: actor.principal.subject, reason: why ?? null });
      await audit(trx, actor.principal, actor.requestId, { action: 'parking_reservation.cancel', targetType: 'parking_space', targetId: r.space_id, details: { reservationId: id, reason: why ?? null, commandIds: commands } });
      return { value: (await store.findReservationForUpdate(trx, id))!, commands };
    }),
  );
}

export async function listReservations(db: Db, spaceId: string, filter: Parameters<typeof store.listReservations>[2]): Promise<Listed<ParkingReservation>> {
  if (!(await store.findSpace(db, spaceId))) throw new SpaceNotFoundError(spaceId);
  return store.listReservations(db, spaceId, filter);
}

/**
 * The reservations job (every minute): starts reservations whose window has opened and ends those whose
 * window has closed (reservation_expired), each in its own transaction under the space's lock.
 */
export async function runReservations(deps: ParkingDeps, now: Date, limit = 1_000): Promise<{ started: number; ended: number }> {
  let started = 0;
  let ended = 0;
  for (const due of await store.dueReservations(deps.db, now, limit)) {
    const commands = await inTransaction(deps.db, 'reservation', async (trx) => {
      const space = await store.findSpaceForUpdate(trx, due.space_id);
      const r = await store.findReservationForUpdate(trx, due.id);
      if (!space || !r || (r.status !== 'scheduled' && r.status !== 'active')) return [];
      if (r.ends_at <= now) {
        ended++;
        return endReservation(trx, deps, space, r, { status: 'ended', trigger: 'reservation_expired', by: 'system:parking' });
      }
      if (r.status === 'scheduled' && r.starts_at <= now) {
        started++;
        return startReservation(trx, deps, space, r, 'system:parking');
      }
      return [];
    });
    if (commands.length) await enqueueOrLeaveToSweeper(deps, commands);
  }
  if (started || ended) deps.logger.info('parking reservations', { started, ended });
  return { started, ended };
}

// ---- Reads ----

export async function listOccupancy(db: Db, spaceId: string, filter: Parameters<typeof store.listOccupancyEvents>[2]): Promise<Listed<OccupancyEvent>> {
  if (!(await store.findSpace(db, spaceId))) throw new SpaceNotFoundError(spaceId);
  return store.listOccupancyEvents(db, spaceId, filter);
}

export async function listActuations(db: Db, spaceId: string, filter: Parameters<typeof store.listActuations>[2]): Promise<Listed<Actuation>> {
  if (!(await store.findSpace(db, spaceId))) throw new SpaceNotFoundError(spaceId);
  return store.listActuations(db, spaceId, filter);
}

export const occupancyNow = (db: Db, filter: Parameters<typeof store.occupancyNow>[1]) => store.occupancyNow(db, filter);
export const occupancyOverTime = (db: Db, filter: Parameters<typeof store.occupancyOverTime>[1]) => store.occupancyOverTime(db, filter);
