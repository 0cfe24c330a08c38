// `npm run bench:collector`: the collector polling BENCH_METERS (100) simulated SDM630 meters on one
// Modbus TCP gateway (the simulator, over loopback) every BENCH_POLL_S (10) seconds for BENCH_CYCLES (6)
// cycles, two FC04 requests per meter, one meter silent (timing out and backed off). Readings go to the
// on-disk buffer and a stub platform that accepts everything, so the figure is the Modbus side.
// Prints one JSON object: cycle time p50/max, cycles that fell behind, readings per cycle.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startCollector } from '../functions/collector/collector.ts';
import { startSdm630Simulator } from '#runtime/sdm630-sim';
import { machine } from './support.ts';

const meterCount = Number(process.env.BENCH_METERS ?? 100);
const pollS = Number(process.env.BENCH_POLL_S ?? 10);
const cycles = Number(process.env.BENCH_CYCLES ?? 6);

const ids = Array.from({ length: meterCount }, (_, i) => i + 1);
const sim = await startSdm630Simulator({ meters: ids.map((slaveId) => ({ slaveId })), silentSlaveIds: [meterCount] });
const bufferDir = await mkdtemp(path.join(os.tmpdir(), 'quantify-bench-collector-'));
let posted = 0;
const collector = await startCollector(
  {
    gateways: [{ host: sim.host, port: sim.port, protocol: 'tcp', pollIntervalS: pollS, timeoutMs: 500, retries: 1, maxBackoffS: 300, meters: ids.map((slaveId) => ({ slaveId, meterId: `M${slaveId}`, model: 'SDM630' })) }],
    apiBaseUrl: 'http://127.0.0.1:1', apiTimeoutMs: 5_000, token: undefined, clientCredentials: undefined, bufferDir, bufferMaxReadings: 1_000_000, batchSize: 200,
    statusHost: '127.0.0.1', statusPort: 'off', quiet: true,
  },
  {
    log: () => undefined,
    post: async (readings) => {
      posted += readings.length;
      return { status: 200, body: '{}' };
    },
  },
);
const times: number[] = [];
for (let i = 0; i < cycles; i++) {
  await collector.nextCycles();
  times.push(collector.status().gateways[0]?.lastCycleMs ?? 0);
}
const status = collector.status();
await collector.stop();
await sim.stop();
await rm(bufferDir, { recursive: true, force: true });
const sorted = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({
  meters: meterCount, pollIntervalS: pollS, cycles, requestsPerMeter: 2,
  cycleMsP50: sorted[Math.floor(sorted.length / 2)], cycleMsMax: sorted.at(-1), cycleMs: times,
  behind: status.gateways[0]?.behind, readingsPolled: status.gateways[0]?.meters.reduce((n, m) => n + m.readings, 0), readingsPosted: posted,
  machine: machine(),
}));
