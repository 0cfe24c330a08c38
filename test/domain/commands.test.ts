// The command state machine and what each command sends, against public vectors: the seed's tested
// SDM320C relay frames and the coil/register frames in modbus_crc16.json / eastron_sdm.json (sources
// cited per vector), the Kuando Busylight downlinks in kuando_busylight.json (hslu-ige-laes/lora-devices-ttn
// and PhilDay-CT codecs), the ESP32 balance command from the seed (esp32-mqtt-architecture.md).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  afterSendFailure,
  applyDeliveryEvent,
  backoffDelayMs,
  balanceMessage,
  canTransition,
  cancellableStatuses,
  CommandConfigError,
  commandStatuses,
  commandTransitions,
  confirmationModeOf,
  describeCommand,
  displayDownlink,
  isTerminal,
  openStatuses,
  planSend,
  relayDownlink,
  type TrackedCommand, BALANCE_CLOCK_TOLERANCE_MS } from '#domain/commands';
import { deviceProfiles } from '#domain/device-profiles';
import { loadVectors } from '../support/vectors.ts';

const hex = (s: string) => s.replace(/[\s-]/g, '').toLowerCase();
const at = new Date('2026-01-27T10:00:00Z');

const crcVectors = z
  .array(z.object({ source: z.string(), input: z.object({ frame_without_crc_hex: z.string(), description: z.string().optional() }), expected: z.object({ full_frame_as_printed: z.string().optional() }) }))
  .parse(loadVectors('modbus_crc16.json'));
const eastronVectors = z
  .array(z.object({ source: z.string(), kind: z.string(), input: z.object({ description: z.string().optional() }).loose(), expected: z.object({ hex: z.string().optional() }).loose() }))
  .parse(loadVectors('eastron_sdm.json'));
const kuandoVectors = z
  .array(z.object({ direction: z.string(), input: z.object({ fPort: z.number().optional(), label_in_source: z.string().optional() }).loose(), expected: z.object({ hex: z.string().optional() }).loose() }))
  .parse(loadVectors('kuando_busylight.json'))
  .filter((v) => v.direction === 'downlink' && v.expected.hex);

describe('command lifecycle', () => {
  it('ends in confirmed, failed, cancelled or expired, and nothing leaves those', () => {
    expect(commandStatuses.filter(isTerminal)).toEqual(['confirmed', 'failed', 'cancelled', 'expired']);
    for (const s of commandStatuses.filter(isTerminal)) expect(commandTransitions[s]).toEqual([]);
  });

  it('follows pending → queued → sent → confirmed and never goes back', () => {
    expect(canTransition('pending', 'queued')).toBe(true);
    expect(canTransition('queued', 'sent')).toBe(true);
    expect(canTransition('sent', 'confirmed')).toBe(true);
    expect(canTransition('sent', 'queued')).toBe(false);
    expect(canTransition('queued', 'pending')).toBe(false);
    expect(canTransition('pending', 'confirmed')).toBe(false);
  });

  it('lets only pending and queued commands be cancelled, and open ones expire', () => {
    expect(cancellableStatuses).toEqual(['pending', 'queued']);
    expect(openStatuses).toEqual(['pending', 'queued', 'sent']);
  });

  it('never allows a transition to the same status or out of a final one (property)', () => {
    const status = fc.constantFrom(...commandStatuses);
    fc.assert(
      fc.property(status, status, (from, to) => {
        if (from === to || isTerminal(from)) expect(canTransition(from, to)).toBe(false);
      }),
    );
  });
});

describe('retries', () => {
  const policy = { baseMs: 1_000, factor: 2, maxMs: 5_000 };

  it('backs off exponentially up to a cap', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, policy))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });

  it('retries a retryable error while retries remain, then fails keeping the error', () => {
    const first = afterSendFailure({ retryCount: 0, maxRetries: 2 }, { retryable: true, message: 'HTTP 503' }, at, policy);
    const second = afterSendFailure({ retryCount: 1, maxRetries: 2 }, { retryable: true, message: 'HTTP 503' }, at, policy);
    const last = afterSendFailure({ retryCount: 2, maxRetries: 2 }, { retryable: true, message: 'HTTP 503' }, at, policy);

    expect(first).toEqual({ kind: 'retry', retryCount: 1, nextAttemptAt: new Date(at.getTime() + 1_000), errorMessage: 'HTTP 503' });
    expect(second).toMatchObject({ kind: 'retry', retryCount: 2, nextAttemptAt: new Date(at.getTime() + 2_000) });
    expect(last).toEqual({ kind: 'fail', retryCount: 2, errorMessage: 'HTTP 503 (gave up after 3 attempts)' });
  });

  it('fails a rejected request at once', () => {
    expect(afterSendFailure({ retryCount: 0, maxRetries: 5 }, { retryable: false, message: 'HTTP 404 device not found' }, at)).toEqual({ kind: 'fail', retryCount: 0, errorMessage: 'HTTP 404 device not found' });
  });
});

describe('relay downlink from the device config', () => {
  it("is the seed's tested SDM320C frame on UC100 pass-through fPort 5 with the UC100 profile defaults", () => {
    const config = deviceProfiles.milesight_uc100.defaultConfig;

    expect(relayDownlink(config, 'off')).toEqual({ payloadHex: '010500000000cdca', fPort: 5, confirmed: false });
    expect(relayDownlink(config, 'on')).toEqual({ payloadHex: '01050000ff008c3a', fPort: 5, confirmed: false });
  });

  it('builds every coil-write vector in modbus_crc16.json from slave and coil', () => {
    const coilOn = crcVectors.filter((v) => /^01 05 00 0[0-3] FF 00$/i.test(v.input.frame_without_crc_hex));
    expect(coilOn.length).toBeGreaterThan(0);
    for (const v of coilOn) {
      const coil = parseInt(v.input.frame_without_crc_hex.split(' ')[3] ?? '', 16);
      expect(relayDownlink({ relay: { method: 'coil', slaveId: 1, coil } }, 'on').payloadHex, v.source).toBe(hex(v.expected.full_frame_as_printed ?? ''));
    }
  });

  it('switches an SDM320-LoRa by FC16 to 0xFD00 when configured so (eastron_sdm.json)', () => {
    const open = eastronVectors.find((v) => v.kind === 'relay-control-frame' && /open relay/i.test(v.input.description ?? ''));
    const config = { relay: { method: 'register', slaveId: 1, register: 0xfd00, onValues: [0xff00], offValues: [0x0000] }, passThroughFPort: 1, confirmed: true };

    expect(relayDownlink(config, 'off')).toEqual({ payloadHex: hex(open?.expected.hex ?? 'missing'), fPort: 1, confirmed: true });
  });

  it('refuses a config that cannot build a frame', () => {
    expect(() => relayDownlink({ relay: { method: 'coil', slaveId: 0 } }, 'off')).toThrow(CommandConfigError);
    expect(() => relayDownlink({ passThroughFPort: 300 }, 'off')).toThrow(CommandConfigError);
  });
});

describe('display downlink from the registry', () => {
  it('sends each Busylight code from the display record on its fPort (kuando_busylight.json)', () => {
    for (const v of kuandoVectors) {
      const config = { displayCodes: { SHOWN: hex(v.expected.hex ?? '') }, fPort: v.input.fPort ?? 0 };
      expect(displayDownlink(config, 'SHOWN'), v.input.label_in_source).toEqual({ payloadHex: hex(v.expected.hex ?? ''), fPort: 15, confirmed: false });
    }
  });

  it('refuses a state the display has no code for', () => {
    expect(() => displayDownlink(deviceProfiles.kuando_busylight.defaultConfig, 'CLOSED')).toThrow(CommandConfigError);
  });
});

describe('what the dispatcher sends', () => {
  it('sends a stored LoRaWAN command byte for byte', () => {
    const expiresAt = new Date('2026-01-29T10:00:00Z');
    const plan = planSend({ commandType: 'relay_off', deviceEui: '24e124468e243001', meterNo: null, payloadHex: '010500000000cdca', fPort: 5, confirmed: false, commandData: {}, expiresAt });

    expect(plan).toEqual({ kind: 'lorawan', devEui: '24e124468e243001', data: Uint8Array.from([1, 5, 0, 0, 0, 0, 0xcd, 0xca]), fPort: 5, confirmed: false, expiresAt });
  });

  it("publishes a balance update as the seed's {balance, timestamp} on the meter's command topic", () => {
    const data = balanceMessage(10.5, new Date(1698765432000));
    const plan = planSend({ commandType: 'balance_update', deviceEui: null, meterNo: 'METER001', payloadHex: null, fPort: null, confirmed: false, commandData: data, expiresAt: null });

    expect(plan).toEqual({ kind: 'mqtt', topic: 'smartmeter/METER001/command/balance', payload: '{"balance":10.5,"timestamp":1698765432000}', qos: 1 });
  });

  it('refuses commands that cannot be delivered', () => {
    expect(() => planSend({ commandType: 'display', deviceEui: null, meterNo: null, payloadHex: 'ff', fPort: 15, confirmed: false, commandData: {}, expiresAt: null })).toThrow(CommandConfigError);
    expect(() => planSend({ commandType: 'balance_update', deviceEui: null, meterNo: 'M1', payloadHex: null, fPort: null, confirmed: false, commandData: {}, expiresAt: null })).toThrow(CommandConfigError);
  });
});

describe('confirmations', () => {
  const sentRelay: TrackedCommand = { commandType: 'relay_off', status: 'sent', deliveryState: 'awaiting_device', confirmed: false, payloadHex: '010500000000cdca', transmittedAt: null, sentAt: at, commandData: { action: 'off' } };
  const echo = (frameHex: string, extra: { exceptionCode?: number; functionCode?: number } = {}) => ({ kind: 'modbus_echo' as const, frameHex, crcValid: true, functionCode: extra.functionCode ?? 5, ...(extra.exceptionCode !== undefined ? { exceptionCode: extra.exceptionCode } : {}), at });

  it('confirms each command type by its own evidence', () => {
    expect(confirmationModeOf({ commandType: 'relay_off', confirmed: true })).toBe('modbus_echo');
    expect(confirmationModeOf({ commandType: 'balance_update', confirmed: false })).toBe('balance_report');
    expect(confirmationModeOf({ commandType: 'display', confirmed: true })).toBe('ack');
    expect(confirmationModeOf({ commandType: 'display', confirmed: false })).toBe('txack');
  });

  it('marks a relay command transmitted on txack, and confirmed with the relay state on the echo', () => {
    const transmitted = applyDeliveryEvent(sentRelay, { kind: 'txack', at });
    const confirmed = applyDeliveryEvent({ ...sentRelay, deliveryState: 'transmitted', transmittedAt: at }, echo('010500000000cdca'));

    expect(transmitted).toMatchObject({ status: 'sent', deliveryState: 'transmitted', transmittedAt: at, relayState: null });
    expect(confirmed).toMatchObject({ status: 'confirmed', confirmedAt: at, relayState: 'off', outcome: { via: 'modbus_echo', frameHex: '010500000000cdca' } });
  });

  it('ignores an echo of another frame and a duplicate txack', () => {
    expect(applyDeliveryEvent(sentRelay, echo('01050000ff008c3a'))).toBeNull();
    expect(applyDeliveryEvent({ ...sentRelay, transmittedAt: at }, { kind: 'txack', at })).toBeNull();
  });

  it('fails a relay command the meter answers with a Modbus exception', () => {
    const change = applyDeliveryEvent(sentRelay, echo('018502c351', { functionCode: 0x85, exceptionCode: 2 }));

    expect(change).toMatchObject({ status: 'failed', errorMessage: 'the meter refused the write: Modbus exception 2 (illegal data address)' });
  });

  it('confirms an unconfirmed display downlink on txack and a confirmed one on ack, and fails it on NACK', () => {
    const display: TrackedCommand = { commandType: 'display', status: 'sent', deliveryState: 'awaiting_device', confirmed: false, payloadHex: '0000ff6400', transmittedAt: null, sentAt: at, commandData: {} };

    expect(applyDeliveryEvent(display, { kind: 'txack', at })).toMatchObject({ status: 'confirmed', deliveryState: 'transmitted' });
    expect(applyDeliveryEvent({ ...display, confirmed: true }, { kind: 'txack', at })).toMatchObject({ status: 'sent', deliveryState: 'transmitted' });
    expect(applyDeliveryEvent({ ...display, confirmed: true }, { kind: 'ack', acknowledged: true, at })).toMatchObject({ status: 'confirmed', deliveryState: 'acknowledged' });
    expect(applyDeliveryEvent({ ...display, confirmed: true }, { kind: 'ack', acknowledged: false, at })).toMatchObject({ status: 'failed', deliveryState: 'nacked' });
  });

  const sentBalance: TrackedCommand = { commandType: 'balance_update', status: 'sent', deliveryState: 'published', confirmed: false, payloadHex: null, transmittedAt: null, sentAt: at, commandData: balanceMessage(10.5, at) };

  it('confirms a balance update on the report of the balance it sent', () => {
    expect(applyDeliveryEvent(sentBalance, { kind: 'balance_report', balance: 10.5, at })).toMatchObject({ status: 'confirmed', outcome: { via: 'balance_report', balance: 10.5 } });
  });

  it('does not confirm a balance update on the report of another balance', () => {
    expect(applyDeliveryEvent(sentBalance, { kind: 'balance_report', balance: 10, at: new Date(at.getTime() + 1_000) })).toBeNull();
  });

  it('does not confirm a balance update on a report made well before it was sent', () => {
    expect(applyDeliveryEvent(sentBalance, { kind: 'balance_report', balance: 10.5, at: new Date(at.getTime() - BALANCE_CLOCK_TOLERANCE_MS - 1) })).toBeNull();
  });

  it('confirms a balance update on a report from a meter whose clock runs a little behind', () => {
    expect(applyDeliveryEvent(sentBalance, { kind: 'balance_report', balance: 10.5, at: new Date(at.getTime() - 30_000) })).toMatchObject({ status: 'confirmed' });
  });

  it('changes nothing for commands that are not sent', () => {
    for (const status of commandStatuses.filter((s) => s !== 'sent')) {
      expect(applyDeliveryEvent({ ...sentRelay, status }, echo('010500000000cdca'))).toBeNull();
    }
  });
});

describe('status text', () => {
  it('says a Class A downlink is waiting for the device rather than failing', () => {
    const text = describeCommand({ status: 'sent', deliveryState: 'awaiting_device', commandType: 'relay_off', confirmed: false, scheduledAt: null, nextAttemptAt: null, errorMessage: null }, at);

    expect(text).toMatch(/after its next uplink/);
  });
});
