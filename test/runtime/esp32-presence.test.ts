// When the local platform counts an ESP32 as back online (runtime/esp32-presence.ts): its connect event; with
// an external broker its first message after a silence (not its first message since the process started);
// one look at a time per meter and none for a window after a push.
import { describe, expect, it } from 'vitest';
import type { ResyncOutcome } from '#app/billing/resync';
import { Esp32Presence } from '#runtime/esp32-presence';
import { logger } from '#shared/logger';

function rig(outcome: ResyncOutcome = 'pushed') {
  let now = 1_000_000;
  const calls: string[] = [];
  const presence = new Esp32Presence({
    resync: async (meterNo) => {
      calls.push(meterNo);
      return outcome;
    },
    silenceMs: 600_000,
    debounceMs: 300_000,
    now: () => new Date(now),
    logger,
  });
  return { presence, calls, advance: (ms: number) => void (now += ms) };
}

describe('ESP32 presence', () => {
  it('counts the first message after a silence, not the first one heard or one within the silence', async () => {
    const { presence, calls, advance } = rig();
    presence.message('smartmeter/E100/status');
    advance(599_000);
    presence.message('smartmeter/E100/consumption');
    advance(600_001);
    presence.message('smartmeter/E100/balance');
    presence.message('smartmeter/E100/command/balance'); // our own command: not the meter's report
    presence.message('application/1/device/abc/event/up');
    await presence.stop();
    expect(calls).toEqual(['E100']);
  });

  it('pushes on a connect event, then not again within the window; again after it', async () => {
    const { presence, calls, advance } = rig();
    presence.connected('E200');
    await presence.stop();
    advance(10_000);
    presence.connected('E200');
    presence.connected('E201');
    await presence.stop();
    advance(300_000);
    presence.connected('E200');
    await presence.stop();
    expect(calls).toEqual(['E200', 'E201', 'E200']);
  });

  it('looks again at the next connect when there was nothing to push (a meter not yet on an account)', async () => {
    const { presence, calls } = rig('not_esp32');
    presence.connected('E300');
    await presence.stop();
    presence.connected('E300');
    await presence.stop();
    expect(calls).toEqual(['E300', 'E300']);
  });
});
