// Classification checks a message's reported time against its receive time (domain/clock.ts).
import { describe, expect, it } from 'vitest';
import { classify } from '#app/ingest/classify';
import { inbound, randomEui, upEvent, upTopic } from '../support/chirpstack.ts';

const receivedAt = new Date('2026-11-30T12:00:00Z');
const future = new Date('2036-11-30T12:00:00Z');

describe('classifying a message dated ahead of its receive time', () => {
  it('replaces a ChirpStack time far ahead with the receive time and says so', () => {
    const devEui = randomEui();

    const result = classify(inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: '0175', time: future }), receivedAt));

    expect(result).toMatchObject({ kind: 'chirpstack', value: { event: { time: receivedAt } }, clock: { reportedTime: future.toISOString(), correctedTo: receivedAt.toISOString() } });
  });

  it('keeps a ChirpStack time within the tolerance as it is', () => {
    const devEui = randomEui();
    const time = new Date(receivedAt.getTime() + 60_000);

    const result = classify(inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: '0175', time }), receivedAt));

    expect(result).toMatchObject({ kind: 'chirpstack', value: { event: { time } } });
    expect(result).not.toHaveProperty('clock');
  });

  it('dates an ESP32 report far ahead at its receive time but keeps the timestamp it sent', () => {
    const result = classify(inbound('smartmeter/M-9/consumption', { meterNo: 'M-9', timestamp: future.getTime(), unitsConsumed: 1 }, receivedAt));

    expect(result).toMatchObject({ kind: 'esp32', at: receivedAt, value: { body: { timestamp: future } } });
  });

  it('quarantines a message dated too far ahead when the policy says so', () => {
    const result = classify(inbound('smartmeter/M-9/consumption', { meterNo: 'M-9', timestamp: future.getTime(), unitsConsumed: 1 }, receivedAt), { maxAheadMs: 300_000, futureTime: 'quarantine' });

    expect(result).toMatchObject({ kind: 'quarantine', reasonCode: 'future_time', meterNo: 'M-9' });
  });
});
