// A gateway's poll cycle with a register reader standing in for the bus: two requests per meter, one
// meter's silence does not hold up the others, it is backed off and probed again, and read again when
// it answers; plausibility flags travel with the reading.
import { describe, expect, it } from 'vitest';
import { float32ToRegisters, registerMaps } from '#domain/sdm-registers';
import type { GatewayConfig } from '../../functions/collector/config.ts';
import type { RegisterReader } from '../../functions/collector/modbus-gateway.ts';
import { GatewayPoller } from '../../functions/collector/poller.ts';

/** Meters on a bus: energy per slave id; a slave in `silent` times out. */
function bus(energy: Map<number, number>, silent: Set<number>) {
  const calls: { slaveId: number; start: number; count: number }[] = [];
  const reader: RegisterReader = {
    readInputRegisters: async (slaveId, start, count) => {
      calls.push({ slaveId, start, count });
      if (silent.has(slaveId)) throw Object.assign(new Error('Timed out'), { errno: 'ETIMEDOUT' });
      const words = new Map<number, number>();
      const put = (address: number, value: number) => {
        const [hi, lo] = float32ToRegisters(value);
        words.set(address, hi);
        words.set(address + 1, lo);
      };
      put(0x0000, 230);
      put(0x0046, 50);
      put(0x0048, energy.get(slaveId) ?? 0);
      put(0x0156, energy.get(slaveId) ?? 0);
      return Array.from({ length: count }, (_, i) => words.get(start + i) ?? 0);
    },
    close: async () => undefined,
  };
  return { reader, calls };
}

const gateway = (slaves: number[]): GatewayConfig => ({
  host: 'gw', port: 502, protocol: 'tcp', pollIntervalS: 10, timeoutMs: 100, retries: 1, maxBackoffS: 40,
  meters: slaves.map((slaveId) => ({ slaveId, meterId: `M${slaveId}`, model: 'SDM630' })),
});

describe('gateway poller', () => {
  it('reads each meter in the two requests of its register map', async () => {
    const { reader, calls } = bus(new Map([[1, 10], [2, 20]]), new Set());
    const poller = new GatewayPoller(gateway([1, 2]), reader, () => 1_000);

    const cycle = await poller.pollCycle();

    expect(calls.map((c) => [c.slaveId, c.start, c.count])).toEqual(registerMaps.SDM630.blocks.flatMap((b) => [[1, b.start, b.count]]).concat(registerMaps.SDM630.blocks.map((b) => [2, b.start, b.count])));
    expect(cycle.readings.map((r) => [r.meterId, r.energyImport, r.voltage, r.slaveId])).toEqual([['M1', 10, 230, 1], ['M2', 20, 230, 2]]);
  });

  it('backs a silent meter off after a retry, keeps reading the others, and reads it again when it answers', async () => {
    const silent = new Set([2]);
    const { reader, calls } = bus(new Map([[1, 10], [2, 20], [3, 30]]), silent);
    let now = 0;
    const poller = new GatewayPoller(gateway([1, 2, 3]), reader, () => now);
    const attemptsOn2 = () => calls.filter((c) => c.slaveId === 2).length;

    const first = await poller.pollCycle();
    now += 10_000;
    const second = await poller.pollCycle();
    now += 10_000;
    const third = await poller.pollCycle();
    silent.delete(2);
    now += 20_000;
    const fourth = await poller.pollCycle();

    // One request, retried once, per attempt; the third cycle skips it (backed off for two intervals).
    expect(attemptsOn2()).toBe(2 + 2 + 0 + 2);
    expect([first, second, third].map((c) => [c.read, c.failed, c.skipped])).toEqual([[2, 1, 0], [2, 1, 0], [2, 0, 1]]);
    expect(first.lost).toEqual(['M2']);
    expect(fourth).toMatchObject({ read: 3, failed: 0, recovered: ['M2'] });
    expect(poller.statuses().map((m) => [m.meterId, m.state, m.readings, m.failures])).toEqual([['M1', 'ok', 4, 0], ['M2', 'ok', 1, 2], ['M3', 'ok', 4, 0]]);
  });

  it('flags a counter going backwards and posts the reading anyway', async () => {
    const energy = new Map([[1, 100]]);
    const { reader } = bus(energy, new Set());
    const poller = new GatewayPoller(gateway([1]), reader, () => 0);

    await poller.pollCycle();
    energy.set(1, 3);
    const after = await poller.pollCycle();

    expect(after.readings[0]).toMatchObject({ energyImport: 3, flags: ['backwards:energyImportKwh', 'backwards:energyTotalKwh'] });
  });
});
