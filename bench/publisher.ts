// Benchmark publisher (a separate process, so publishing does not share the platform's event loop):
// publishes ChirpStack v4 `up` events for EM300-DI devices at a given rate, or as fast as it can.
// Bounded: exactly BENCH_COUNT messages, then it exits.
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { upEvent, upTopic } from '../test/support/chirpstack.ts';

const url = process.env.BENCH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const count = Number(process.env.BENCH_COUNT ?? 10_000);
const rate = Number(process.env.BENCH_RATE ?? 0); // uplinks per second; 0 = as fast as possible
const qos = Number(process.env.BENCH_QOS ?? 0) as 0 | 1;
const devEuis = (process.env.BENCH_DEVEUIS ?? '').split(',').filter(Boolean);
if (!devEuis.length) throw new Error('BENCH_DEVEUIS is empty');

// ChirpStack's login on the embedded broker (none on an external broker that takes anonymous clients).
const login = process.env.BENCH_MQTT_USERNAME ? { username: process.env.BENCH_MQTT_USERNAME, password: process.env.BENCH_MQTT_PASSWORD ?? '' } : {};
const client = await mqtt.connectAsync(url, { clientId: `bench-chirpstack-${process.pid}`, ...login });
const counters = new Map<string, number>();
const started = Date.now();
const tick = 10; // ms between bursts when rate-limited
let sent = 0;

function publishOne(): void {
  const devEui = devEuis[sent % devEuis.length] ?? '';
  const fCnt = (counters.get(devEui) ?? 0) + 1;
  counters.set(devEui, fCnt);
  // EM300-DI frame: battery, then the GPIO pulse counter (channel 05 c8), which keeps rising.
  const counter = Buffer.alloc(4);
  counter.writeUInt32LE(fCnt * 10);
  const event = upEvent({ devEui, fPort: 85, hex: `01755c05c8${counter.toString('hex')}`, fCnt, time: new Date(), deduplicationId: randomUUID() });
  client.publish(upTopic(devEui), JSON.stringify(event), { qos });
  sent++;
}

while (sent < count) {
  if (rate > 0) {
    const due = Math.min(count, Math.floor(((Date.now() - started) / 1000) * rate) + 1);
    while (sent < due) publishOne();
    await new Promise((r) => setTimeout(r, tick));
  } else {
    const burst = Math.min(count - sent, 500);
    for (let i = 0; i < burst; i++) publishOne();
    // Let the socket drain so memory stays bounded.
    await new Promise((r) => setImmediate(r));
  }
}
await client.endAsync();
process.stdout.write(JSON.stringify({ sent, seconds: (Date.now() - started) / 1000 }) + '\n');
