// Pulse-counter continuity. A device's counter can reset (power loss, reconfiguration) or wrap around
// (32-bit); the metered total must still only go up. We keep an offset per device: on a drop we add the
// last count (a reset restarts from zero) or 2^32 (a wrap), so total = offset + count stays monotonic.
// Older, out-of-order or redelivered uplinks (time not after the last one seen) never move the state.

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

const WRAP = 2 ** 32;
/** A drop from within this fraction of 2^32 down to a small count is a wrap, not a reset. */
const WRAP_ZONE = 0.9;

export function advanceCounter(state: CounterState, count: number, at: Date): CounterStep {
  const isNewer = state.lastAt === null || at.getTime() > state.lastAt.getTime();
  if (!isNewer) return { state, total: state.offset + count };
  if (state.lastCount !== null && count < state.lastCount) {
    const wrapped = state.lastCount >= WRAP * WRAP_ZONE && count < WRAP * (1 - WRAP_ZONE);
    const offset = state.offset + (wrapped ? WRAP : state.lastCount);
    return { state: { offset, lastCount: count, lastAt: at }, total: offset + count, event: wrapped ? 'wrap' : 'reset' };
  }
  return { state: { offset: state.offset, lastCount: count, lastAt: at }, total: state.offset + count };
}

/**
 * The metered value of a pulse total: total / pulsesPerUnit (the registry's, default 1000), the decoder's
 * rule; undefined when pulsesPerUnit is not usable or the quotient is not a finite number.
 */
export function pulseTotalValue(total: number, pulsesPerUnit: unknown): number | undefined {
  const perUnit = Number(pulsesPerUnit ?? 1000);
  const value = perUnit > 0 ? total / perUnit : NaN;
  return Number.isFinite(value) ? value : undefined;
}
