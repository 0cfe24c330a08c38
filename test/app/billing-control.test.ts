// Balance control's decision per meter (pure): when to disconnect, when to schedule the disconnect for the
// end of friendly-credit hours instead, when not to queue a second disconnect, when to cancel one and when
// to reconnect.
import { describe, expect, it } from 'vitest';
import { relayDecision, type ControlContext } from '#app/billing/control';
import type { ControlTarget } from '#store/billing';

const target = (over: Partial<ControlTarget> = {}): ControlTarget => ({
  accountId: 'a',
  balanceMinor: 0,
  exemptReason: null,
  lastCreditEntryId: 7,
  meterId: 'm',
  meterNo: 'M1',
  relayState: 'on',
  deviceKind: 'lorawan',
  capabilities: { relay: true },
  deviceConfig: {},
  lastRelay: null,
  scheduled: null,
  ...over,
});
const ctx = (over: Partial<ControlContext['policy']> = {}, friendly: ControlContext['friendly'] = { inside: false }): ControlContext => ({
  policy: { emergencyCreditMinor: 0, reconnectThresholdMinor: 0, ...over },
  friendly,
});
const off = (status: string) => ({ id: 'c1', type: 'relay_off' as const, status, reason: 'credit_exhausted' });
const endOfWindow = Date.parse('2026-03-30T07:00:00Z');
const friendly = { inside: true, endsAt: endOfWindow };
const scheduled = { id: 's1', dueAt: new Date(endOfWindow) };

describe('relayDecision', () => {
  it('disconnects at zero, keyed by the latest credit and relay command', () => {
    expect(relayDecision(target(), ctx())).toEqual([{ kind: 'disconnect', key: 'credit-off:m:7:none' }]);
    expect(relayDecision(target({ balanceMinor: 1 }), ctx())).toEqual([{ kind: 'none' }]);
  });
  it('waits for the emergency credit to be used up', () => {
    expect(relayDecision(target({ balanceMinor: -499 }), ctx({ emergencyCreditMinor: 500 }))).toEqual([{ kind: 'none' }]);
    expect(relayDecision(target({ balanceMinor: -500 }), ctx({ emergencyCreditMinor: 500 }))[0]).toMatchObject({ kind: 'disconnect' });
  });
  it('never queues a second disconnect while one is open or done; retries one that failed or expired', () => {
    for (const s of ['pending', 'queued', 'sent', 'confirmed']) expect(relayDecision(target({ balanceMinor: -5, lastRelay: off(s) }), ctx())).toEqual([{ kind: 'none' }]);
    for (const s of ['failed', 'expired', 'cancelled']) expect(relayDecision(target({ balanceMinor: -5, lastRelay: off(s) }), ctx())).toEqual([{ kind: 'disconnect', key: 'credit-off:m:7:c1' }]);
  });
  it('leaves an exempt account and a meter without a LoRaWAN relay alone', () => {
    expect(relayDecision(target({ exemptReason: 'hospital' }), ctx())).toEqual([{ kind: 'none' }]);
    expect(relayDecision(target({ deviceKind: 'esp32', capabilities: { balance: true } }), ctx())).toEqual([{ kind: 'none' }]);
  });
  it('cancels a disconnect not yet sent and reconnects one that was, once above the threshold', () => {
    expect(relayDecision(target({ balanceMinor: 100, lastRelay: off('queued') }), ctx())).toEqual([{ kind: 'cancel', commandId: 'c1' }, { kind: 'reconnect', key: 'credit-on:m:c1' }]);
    expect(relayDecision(target({ balanceMinor: 100, lastRelay: off('confirmed') }), ctx())).toEqual([{ kind: 'reconnect', key: 'credit-on:m:c1' }]);
    expect(relayDecision(target({ balanceMinor: 100, lastRelay: off('confirmed') }), ctx({ reconnectThresholdMinor: 100 }))).toEqual([{ kind: 'none' }]);
    // An operator's disconnect for another reason is not undone by a payment.
    expect(relayDecision(target({ balanceMinor: 100, lastRelay: { ...off('confirmed'), reason: 'tamper' } }), ctx())).toEqual([{ kind: 'none' }]);
  });
});

describe('relayDecision inside friendly-credit hours', () => {
  it('schedules the disconnect for the end of the window instead of disconnecting, once', () => {
    expect(relayDecision(target({ balanceMinor: -5 }), ctx({}, friendly))).toEqual([{ kind: 'schedule', dueAt: new Date(endOfWindow) }]);
    expect(relayDecision(target({ balanceMinor: -5, scheduled }), ctx({}, friendly))).toEqual([{ kind: 'none' }]);
  });
  it('closes a scheduled disconnect when the meter is already being disconnected (an operator did it)', () => {
    expect(relayDecision(target({ balanceMinor: -5, scheduled, lastRelay: { ...off('sent'), reason: 'tamper' } }), ctx({}, friendly))).toEqual([
      { kind: 'unschedule', scheduledId: 's1', reason: 'the meter is already being disconnected' },
    ]);
  });
  it('issues the scheduled disconnect once the window is over', () => {
    expect(relayDecision(target({ balanceMinor: -5, scheduled }), ctx())).toEqual([{ kind: 'disconnect', key: 'credit-off:m:7:none', scheduledId: 's1' }]);
  });
  it('cancels the scheduled disconnect when credit comes back, or the account is exempted', () => {
    expect(relayDecision(target({ balanceMinor: 100, scheduled }), ctx())).toEqual([{ kind: 'unschedule', scheduledId: 's1', reason: 'credit restored before the end of friendly-credit hours' }]);
    expect(relayDecision(target({ balanceMinor: -5, scheduled, exemptReason: 'clinic' }), ctx())).toEqual([{ kind: 'unschedule', scheduledId: 's1', reason: 'account exempt: clinic' }]);
  });
});
