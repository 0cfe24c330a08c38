// Balance control's decision per meter (pure): when to disconnect, when not to queue a second disconnect,
// when to cancel one and when to reconnect.
import { describe, expect, it } from 'vitest';
import { relayDecision } from '#app/billing/control';
import type { ControlTarget } from '#store/billing';

const target = (over: Partial<ControlTarget> = {}): ControlTarget => ({
  accountId: 'a',
  balanceMinor: 0,
  emergencyCreditMinor: 0,
  reconnectThresholdMinor: 0,
  exemptReason: null,
  lastCreditEntryId: 7,
  meterId: 'm',
  meterNo: 'M1',
  relayState: 'on',
  deviceKind: 'lorawan',
  capabilities: { relay: true },
  deviceConfig: {},
  lastRelay: null,
  ...over,
});
const off = (status: string) => ({ id: 'c1', type: 'relay_off' as const, status, reason: 'credit_exhausted' });

describe('relayDecision', () => {
  it('disconnects at zero, keyed by the latest credit and relay command', () => {
    expect(relayDecision(target())).toEqual([{ kind: 'disconnect', key: 'credit-off:m:7:none' }]);
    expect(relayDecision(target({ balanceMinor: 1 }))).toEqual([{ kind: 'none' }]);
  });
  it('waits for the emergency credit to be used up', () => {
    expect(relayDecision(target({ balanceMinor: -499, emergencyCreditMinor: 500 }))).toEqual([{ kind: 'none' }]);
    expect(relayDecision(target({ balanceMinor: -500, emergencyCreditMinor: 500 }))[0]).toMatchObject({ kind: 'disconnect' });
  });
  it('never queues a second disconnect while one is open or done; retries one that failed or expired', () => {
    for (const s of ['pending', 'queued', 'sent', 'confirmed']) expect(relayDecision(target({ balanceMinor: -5, lastRelay: off(s) }))).toEqual([{ kind: 'none' }]);
    for (const s of ['failed', 'expired', 'cancelled']) expect(relayDecision(target({ balanceMinor: -5, lastRelay: off(s) }))).toEqual([{ kind: 'disconnect', key: 'credit-off:m:7:c1' }]);
  });
  it('leaves an exempt account and a meter without a LoRaWAN relay alone', () => {
    expect(relayDecision(target({ exemptReason: 'hospital' }))).toEqual([{ kind: 'none' }]);
    expect(relayDecision(target({ deviceKind: 'esp32', capabilities: { balance: true } }))).toEqual([{ kind: 'none' }]);
  });
  it('cancels a disconnect not yet sent and reconnects one that was, once above the threshold', () => {
    expect(relayDecision(target({ balanceMinor: 100, lastRelay: off('queued') }))).toEqual([{ kind: 'cancel', commandId: 'c1' }, { kind: 'reconnect', key: 'credit-on:m:c1' }]);
    expect(relayDecision(target({ balanceMinor: 100, lastRelay: off('confirmed') }))).toEqual([{ kind: 'reconnect', key: 'credit-on:m:c1' }]);
    expect(relayDecision(target({ balanceMinor: 100, reconnectThresholdMinor: 100, lastRelay: off('confirmed') }))).toEqual([{ kind: 'none' }]);
    // An operator's disconnect for another reason is not undone by a payment.
    expect(relayDecision(target({ balanceMinor: 100, lastRelay: { ...off('confirmed'), reason: 'tamper' } }))).toEqual([{ kind: 'none' }]);
  });
});
