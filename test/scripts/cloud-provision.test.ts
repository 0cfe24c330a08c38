// Provisioning a device identity in IoT Core (AWS SDK mocked): the thing named by the meterNo, a
// certificate whose key is written once to a 0600 file and nowhere else, the policy and the thing attached
// to it; a key that cannot be written leaves no usable certificate behind.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DescribeEndpointCommand,
  IoTClient,
  ResourceAlreadyExistsException,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { provisionThing } from '../../scripts/cloud-provision.ts';

const iot = mockClient(IoTClient);
const certificateArn = 'arn:aws:iot:eu-west-1:111122223333:cert/abc';
const privateKey = '-----BEGIN RSA PRIVATE KEY-----\nTEST\n-----END RSA PRIVATE KEY-----\n';
let dir: string;

beforeEach(async () => {
  iot.reset();
  iot.on(CreateThingCommand).resolves({ thingName: 'METER001' });
  iot.on(CreateKeysAndCertificateCommand).resolves({ certificateArn, certificateId: 'abc', certificatePem: 'CERT', keyPair: { PrivateKey: privateKey, PublicKey: 'PUB' } });
  iot.on(DescribeEndpointCommand).resolves({ endpointAddress: 'xyz-ats.iot.eu-west-1.amazonaws.com' });
  dir = await mkdtemp(path.join(tmpdir(), 'quantify-provision-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cloud provisioning', () => {
  it('creates the meter’s thing, writes its certificate and key, and attaches the policy and the thing', async () => {
    const done = await provisionThing(new IoTClient({}), { thingName: 'METER001', policyName: 'MeterPolicy', outDir: dir });

    expect(iot.commandCalls(CreateThingCommand)[0]?.args[0].input).toEqual({ thingName: 'METER001' });
    expect(iot.commandCalls(AttachPolicyCommand)[0]?.args[0].input).toEqual({ policyName: 'MeterPolicy', target: certificateArn });
    expect(iot.commandCalls(AttachThingPrincipalCommand)[0]?.args[0].input).toEqual({ thingName: 'METER001', principal: certificateArn });
    expect(await readFile(done.privateKeyFile, 'utf8')).toBe(privateKey);
    expect((await stat(done.privateKeyFile)).mode & 0o777).toBe(0o600);
    expect(JSON.stringify(done)).not.toContain('PRIVATE KEY');
    expect(done.endpoint).toBe('xyz-ats.iot.eu-west-1.amazonaws.com');
  });

  it('adds a certificate to a thing that exists (rotation)', async () => {
    iot.on(CreateThingCommand).rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {}, resourceId: 'METER001', resourceArn: 'arn' }));

    const done = await provisionThing(new IoTClient({}), { thingName: 'METER001', policyName: 'MeterPolicy', outDir: dir });

    expect(done.thingExisted).toBe(true);
    expect(iot.commandCalls(AttachThingPrincipalCommand)).toHaveLength(1);
  });

  it('removes the new certificate when its key cannot be written, and never overwrites a key', async () => {
    await writeFile(path.join(dir, 'METER001.private.key'), 'the key in use');

    await expect(provisionThing(new IoTClient({}), { thingName: 'METER001', policyName: 'MeterPolicy', outDir: dir })).rejects.toThrow(/EEXIST/);

    expect(iot.commandCalls(UpdateCertificateCommand)[0]?.args[0].input).toEqual({ certificateId: 'abc', newStatus: 'INACTIVE' });
    expect(iot.commandCalls(DeleteCertificateCommand)).toHaveLength(1);
    expect(iot.commandCalls(AttachPolicyCommand)).toHaveLength(0);
    expect(await readFile(path.join(dir, 'METER001.private.key'), 'utf8')).toBe('the key in use');
  });

  it('names ChirpStack’s files without the thing name’s colon', async () => {
    const done = await provisionThing(new IoTClient({}), { thingName: 'quantify:chirpstack', policyName: 'ChirpStackPolicy', outDir: dir });
    expect(path.basename(done.certificateFile)).toBe('quantify_chirpstack.cert.pem');
  });
});
