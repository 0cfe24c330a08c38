// The IoT policies as IoT Core would apply them (test/cdk/iot-policy.ts): a meter's certificate, attached
// to the thing named by its meterNo and connecting with that as client id — the scheme the ESP32 simulator,
// the local broker and `npm run cloud:provision-meter` use — may report and read its own topics and
// nothing else; ChirpStack's may inject uplinks and read its commands; neither can pose as another.
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { chirpstackThingName } from '#domain/device-access';
import { meterClientId } from '#domain/topics';
import { DeviceAccess } from '../../lib/device-access.ts';
import { logicalIdOf } from '../../lib/nag.ts';
import { allowed, type Connection, type IotAction } from './iot-policy.ts';

let meterPolicy: unknown;
let chirpstackPolicy: unknown;

beforeAll(() => {
  const stack = new Stack(new App(), 'Policies', { env: { account: '111122223333', region: 'eu-west-1' } });
  const access = new DeviceAccess(stack, 'DeviceAccess');
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, { Properties: { PolicyDocument: unknown } }>;
  meterPolicy = resources[logicalIdOf(access.meterPolicy)]?.Properties.PolicyDocument;
  chirpstackPolicy = resources[logicalIdOf(access.chirpstackPolicy)]?.Properties.PolicyDocument;
});

// The registry: two meters and ChirpStack, each thing with its own certificate.
const things = { METER001: ['cert-m1'], METER002: ['cert-m2'], [chirpstackThingName]: ['cert-cs'] };
const meter1: Connection = { clientId: meterClientId('METER001'), things, certificate: 'cert-m1' };
const chirpstack: Connection = { clientId: chirpstackThingName, things, certificate: 'cert-cs' };

type Case = [string, Connection, IotAction, string, boolean];
const meterCases: Case[] = [
  ['connects as its own thing (client id = meterNo)', meter1, 'iot:Connect', 'METER001', true],
  ['cannot connect as another meter', { ...meter1, clientId: 'METER002' }, 'iot:Connect', 'METER002', false],
  ['cannot connect under the old smartmeter- client id', { ...meter1, clientId: 'smartmeter-METER001' }, 'iot:Connect', 'smartmeter-METER001', false],
  ['cannot connect as ChirpStack', { ...meter1, clientId: chirpstackThingName }, 'iot:Connect', chirpstackThingName, false],
  ['publishes its consumption', meter1, 'iot:Publish', 'smartmeter/METER001/consumption', true],
  ['publishes its status', meter1, 'iot:Publish', 'smartmeter/METER001/status', true],
  ['publishes its balance report', meter1, 'iot:Publish', 'smartmeter/METER001/balance', true],
  ['cannot publish retained', meter1, 'iot:RetainPublish', 'smartmeter/METER001/status', false],
  ['cannot publish another meter’s consumption', meter1, 'iot:Publish', 'smartmeter/METER002/consumption', false],
  ['cannot publish to its own command topic', meter1, 'iot:Publish', 'smartmeter/METER001/command/balance', false],
  ['cannot inject a ChirpStack uplink', meter1, 'iot:Publish', 'application/1/device/0101010101010101/event/up', false],
  ['subscribes to its balance command', meter1, 'iot:Subscribe', 'smartmeter/METER001/command/balance', true],
  ['subscribes to all its commands', meter1, 'iot:Subscribe', 'smartmeter/METER001/command/#', true],
  ['cannot subscribe to every meter’s commands', meter1, 'iot:Subscribe', 'smartmeter/+/command/balance', false],
  ['cannot subscribe to #', meter1, 'iot:Subscribe', '#', false],
  ['cannot subscribe to another meter’s commands', meter1, 'iot:Subscribe', 'smartmeter/METER002/command/#', false],
  ['receives its balance command', meter1, 'iot:Receive', 'smartmeter/METER001/command/balance', true],
  ['does not receive another meter’s command', meter1, 'iot:Receive', 'smartmeter/METER002/command/balance', false],
  ['gets nothing with a client id naming no thing', { ...meter1, clientId: 'NOSUCHMETER' }, 'iot:Publish', 'smartmeter/NOSUCHMETER/consumption', false],
];

const chirpstackCases: Case[] = [
  ['connects as its own thing', chirpstack, 'iot:Connect', chirpstackThingName, true],
  ['a meter’s certificate cannot connect as ChirpStack', { ...chirpstack, certificate: 'cert-m1' }, 'iot:Connect', chirpstackThingName, false],
  ['cannot connect as a meter', { ...chirpstack, clientId: 'METER001' }, 'iot:Connect', 'METER001', false],
  ['publishes an uplink', chirpstack, 'iot:Publish', 'application/1/device/0101010101010101/event/up', true],
  ['cannot publish retained', chirpstack, 'iot:RetainPublish', 'application/1/device/0101010101010101/event/up', false],
  ['cannot publish a meter report', chirpstack, 'iot:Publish', 'smartmeter/METER001/consumption', false],
  ['cannot publish a meter command', chirpstack, 'iot:Publish', 'smartmeter/METER001/command/balance', false],
  ['subscribes to its command topics', chirpstack, 'iot:Subscribe', 'application/+/device/+/command/+', true],
  ['receives a downlink command', chirpstack, 'iot:Receive', 'application/1/device/0101010101010101/command/down', true],
  ['cannot subscribe to the meters’ tree', chirpstack, 'iot:Subscribe', 'smartmeter/#', false],
];

describe('meter policy', () => {
  it.each(meterCases)('a meter %s', (_name, connection, action, resource, expected) => {
    expect(allowed(meterPolicy, connection, action, resource)).toBe(expected);
  });
});

describe('ChirpStack policy', () => {
  it.each(chirpstackCases)('ChirpStack %s', (_name, connection, action, resource, expected) => {
    expect(allowed(chirpstackPolicy, connection, action, resource)).toBe(expected);
  });
});
