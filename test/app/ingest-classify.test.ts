// The first step of ingestion, without a database: a message's topic and body become a typed ChirpStack
// event or ESP32 message, or a quarantine request naming the device and the reason.
import { describe, expect, it } from 'vitest';
import { classify, topicDevice } from '#app/ingest/classify';
import { inbound, randomEui, upEvent, upTopic } from '../support/chirpstack.ts';

describe('classifying an inbound message', () => {
  it('reads a ChirpStack uplink under its topic', () => {
    const devEui = randomEui();

    const result = classify(inbound(upTopic(devEui), upEvent({ devEui, fPort: 85, hex: '0175' })));

    expect(result).toMatchObject({ kind: 'chirpstack', devEui, value: { type: 'up' } });
  });

  it('reads an ESP32 consumption report under its topic', () => {
    const result = classify(inbound('smartmeter/M-1/consumption', { meterNo: 'M-1', timestamp: Date.UTC(2026, 10, 1, 10), unitsConsumed: 1.5 }));

    expect(result).toMatchObject({ kind: 'esp32', value: { meterNo: 'M-1', type: 'consumption' } });
  });

  it('quarantines a topic no handler serves', () => {
    expect(classify(inbound('elsewhere/x', {}))).toMatchObject({ kind: 'quarantine', reasonCode: 'unknown_topic' });
  });

  it('quarantines a body that is not JSON, naming the device its topic names', () => {
    const devEui = randomEui();

    expect(classify(inbound(upTopic(devEui), 'not json'))).toMatchObject({ kind: 'quarantine', reasonCode: 'malformed_json', devEui });
    expect(classify(inbound('smartmeter/M-2/status', 'not json'))).toMatchObject({ kind: 'quarantine', reasonCode: 'malformed_json', meterNo: 'M-2' });
  });

  it('quarantines an event whose DevEUI is not the topic', () => {
    const devEui = randomEui();
    const other = randomEui();

    expect(classify(inbound(upTopic(devEui), upEvent({ devEui: other, fPort: 85, hex: '0175' })))).toMatchObject({ kind: 'quarantine', reasonCode: 'topic_mismatch', devEui });
  });

  it('quarantines an HTTP integration body that named no device, and a queue body that was not an envelope', () => {
    expect(classify(inbound('integrations/chirpstack/up', '{}'))).toMatchObject({ kind: 'quarantine', reasonCode: 'malformed_event' });
    expect(classify(inbound('queue/malformed', 'x'))).toMatchObject({ kind: 'quarantine', reasonCode: 'malformed_queue_message' });
  });

  it('names the device of any topic for a quarantine row', () => {
    const devEui = randomEui();

    expect(topicDevice(upTopic(devEui))).toEqual({ devEui });
    expect(topicDevice('smartmeter/M-3/consumption')).toEqual({ meterNo: 'M-3' });
    expect(topicDevice('elsewhere/x')).toEqual({});
  });
});
