// Pulse-counter continuity. A device's counter can reset (power loss, reconfiguration) or wrap around
// (32-bit); the metered total must still only go up. Each reading carries an offset: between two
// consecutive readings of a device (in the device's order, not the order they arrive in) a drop in the
// count adds the previous count (a reset restarts from zero) or 2^32 (a wrap) to the offset, so
// total = offset + count never goes down along the series.
//
// The step depends only on the two neighbours (counterIncrement), so the store can recompute a device's
// offsets with a running sum over its readings in order when a late uplink lands between two stored ones
// (functions/store/ingest/readings.ts runs the same rule in SQL, with these constants). Inserting a
// reading between two neighbours never lowers the consumption counted between them (see
// counterIncrement): a late uplink can only raise the totals after it, never lower them.

export interface CounterState {
  offset: number;
  lastCount: number | null;
  lastAt: Date | null;
}

export interface CounterStep {
  state: CounterState;
  /** offset + count for this uplink. */
  total: number;
  event?: 'reset' | 'wrap';
}

/** A 32-bit counter wraps to zero after 2^32 - 1. */
export const COUNTER_WRAP = 2 ** 32;
/** A drop from at least this count ... */
export const WRAP_FROM = COUNTER_WRAP * 0.9;
/** ... to below this one is a wrap, not a reset. */
export const WRAP_TO = COUNTER_WRAP * 0.1;

/**
 * What the offset grows by between two consecutive counts of a device: nothing when the count did not
 * drop, 2^32 on a wrap (from the top tenth of the range to the bottom tenth), else the previous count (a
 * reset: counting restarted from zero). The consumption between the two is then count + increment - prev
 * (never negative), and for any count x placed between them
 * delta(prev, x) + delta(x, count) >= delta(prev, count): more readings only ever reveal more consumption.
 */
export function counterIncrement(prev: number | null, count: number): number {
  if (prev === null || count >= prev) return 0;
  return prev >= WRAP_FROM && count < WRAP_TO ? COUNTER_WRAP : prev;
}

/** The consumption (in pulses) between two consecutive counts. */
export const counterDelta = (prev: number, count: number): number => count + counterIncrement(prev, count) - prev;

/**
 * The offsets of a device's counts in its order, continuing from the reading before them (`anchor`,
 * or none): the reference the store's SQL follows.
 */
export function counterOffsets(anchor: { offset: number; count: number } | null, counts: readonly number[]): number[] {
  let offset = anchor?.offset ?? 0;
  let prev = anchor?.count ?? null;
  return counts.map((count) => {
    offset += counterIncrement(prev, count);
    prev = count;
    return offset;
  });
}

/**
 * One step over a device's counts in time order (older, out-of-order or redelivered uplinks, time not
 * after the last one seen, never move the state).
 */
export function advanceCounter(state: CounterState, count: number, at: Date): CounterStep {
  const isNewer = state.lastAt === null || at.getTime() > state.lastAt.getTime();
  if (!isNewer) return { state, total: state.offset + count };
  const increment = counterIncrement(state.lastCount, count);
  const offset = state.offset + increment;
  const step: CounterStep = { state: { offset, lastCount: count, lastAt: at }, total: offset + count };
  if (increment > 0) step.event = increment === COUNTER_WRAP ? 'wrap' : 'reset';
  return step;
}

/** pulsesPerUnit as configured (the registry's, default 1000), or undefined when it is not usable. */
export function pulsesPerUnitOf(pulsesPerUnit: unknown): number | undefined {
  const perUnit = Number(pulsesPerUnit ?? 1000);
  return perUnit > 0 && Number.isFinite(perUnit) ? perUnit : undefined;
}

/**
 * The metered value of a pulse total: total / pulsesPerUnit (the registry's, default 1000), the decoder's
 * rule; undefined when pulsesPerUnit is not usable or the quotient is not a finite number.
 */
export function pulseTotalValue(total: number, pulsesPerUnit: unknown): number | undefined {
  const perUnit = pulsesPerUnitOf(pulsesPerUnit);
  const value = perUnit !== undefined ? total / perUnit : NaN;
  return Number.isFinite(value) ? value : undefined;
}
