// The broker rule set: who may connect with which client id, publish where, subscribe to what. The same
// rules drive the embedded broker and the Mosquitto ACL (tested against both in test/runtime).
import { describe, expect, it } from 'vitest';
import { mayConnect, mayPublish, maySubscribe, mosquittoAcl, serviceIdentityOf, usernameOf, type MqttIdentity } from '#domain/device-access';

const meter1: MqttIdentity = { kind: 'meter', meterNo: 'METER001' };
const platform: MqttIdentity = { kind: 'platform' };
const chirpstack: MqttIdentity = { kind: 'chirpstack' };
const operator: MqttIdentity = { kind: 'operator' };

const publishes: [string, MqttIdentity, string, boolean, boolean][] = [
  ['a meter, its own consumption', meter1, 'smartmeter/METER001/consumption', false, true],
  ['a meter, its own status', meter1, 'smartmeter/METER001/status', false, true],
  ['a meter, its own balance report', meter1, 'smartmeter/METER001/balance', false, true],
  ['a meter, its own report retained', meter1, 'smartmeter/METER001/status', true, false],
  ['a meter, another meter’s consumption', meter1, 'smartmeter/METER002/consumption', false, false],
  ['a meter, its own command topic', meter1, 'smartmeter/METER001/command/balance', false, false],
  ['a meter, a ChirpStack uplink', meter1, 'application/a/device/0101010101010101/event/up', false, false],
  ['a meter, an unknown report kind', meter1, 'smartmeter/METER001/other', false, false],
  ['ChirpStack, an uplink', chirpstack, 'application/a/device/0101010101010101/event/up', false, true],
  ['ChirpStack, an uplink retained', chirpstack, 'application/a/device/0101010101010101/event/up', true, false],
  ['ChirpStack, a meter report', chirpstack, 'smartmeter/METER001/consumption', false, false],
  ['ChirpStack, a command', chirpstack, 'application/a/device/0101010101010101/command/down', false, false],
  ['an operator tool, anything', operator, 'smartmeter/METER001/consumption', false, false],
  ['the platform, a retained command', platform, 'smartmeter/METER001/command/balance', true, true],
];

const subscribes: [string, MqttIdentity, string, boolean][] = [
  ['a meter, its own balance command', meter1, 'smartmeter/METER001/command/balance', true],
  ['a meter, all its own commands', meter1, 'smartmeter/METER001/command/#', true],
  ['a meter, its own commands with +', meter1, 'smartmeter/METER001/command/+', true],
  ['a meter, every meter’s commands', meter1, 'smartmeter/+/command/balance', false],
  ['a meter, another meter’s commands', meter1, 'smartmeter/METER002/command/#', false],
  ['a meter, its whole tree', meter1, 'smartmeter/METER001/#', false],
  ['a meter, everything', meter1, '#', false],
  ['a meter, its own reports', meter1, 'smartmeter/METER001/consumption', false],
  ['ChirpStack, its commands', chirpstack, 'application/+/device/+/command/+', true],
  ['ChirpStack, one device’s downlinks', chirpstack, 'application/a/device/0101010101010101/command/down', true],
  ['ChirpStack, the event tree', chirpstack, 'application/+/device/+/event/+', false],
  ['ChirpStack, everything', chirpstack, '#', false],
  ['an operator tool, the meters’ tree', operator, 'smartmeter/#', true],
  ['an operator tool, ChirpStack events', operator, 'application/+/device/+/event/up', true],
  ['an operator tool, everything', operator, '#', false],
  ['an operator tool, $SYS', operator, '$SYS/#', false],
  ['the platform, everything', platform, '#', true],
];

describe('broker rules', () => {
  it.each(publishes)('publish: %s', (_name, identity, topic, retain, allowed) => {
    expect(mayPublish(identity, { topic, retain })).toBe(allowed);
  });

  it.each(subscribes)('subscribe: %s', (_name, identity, filter, allowed) => {
    expect(maySubscribe(identity, filter)).toBe(allowed);
  });

  it('lets a meter connect only with its meterNo as client id; services with any', () => {
    expect(mayConnect(meter1, 'METER001')).toBe(true);
    expect(mayConnect(meter1, 'METER002')).toBe(false);
    expect(mayConnect(meter1, 'smartmeter-METER001')).toBe(false);
    expect(mayConnect(chirpstack, 'chirpstack-7f3a')).toBe(true);
  });

  it('names services so no meter number can take their name', () => {
    expect(serviceIdentityOf(usernameOf(platform))).toBe('platform');
    expect(serviceIdentityOf(usernameOf(meter1))).toBeUndefined();
    expect(usernameOf(chirpstack)).toMatch(/\./);
  });
});

describe('Mosquitto ACL', () => {
  it('gives each meter its own report topics to write and its own commands to read', () => {
    const acl = mosquittoAcl(['METER001']);
    expect(acl).toContain('user METER001\ntopic write smartmeter/METER001/consumption\ntopic write smartmeter/METER001/status\ntopic write smartmeter/METER001/balance\ntopic read smartmeter/METER001/command/#\n');
    expect(acl).toContain('user quantify.chirpstack\ntopic write application/+/device/+/event/+\ntopic read application/+/device/+/command/+\n');
    expect(acl).toContain('user quantify.operator\ntopic read smartmeter/#\ntopic read application/#\n');
  });

  it('refuses a name that could smuggle in ACL lines', () => {
    expect(() => mosquittoAcl(['M1\ntopic readwrite #'])).toThrow(/not a meter number/);
  });
});
