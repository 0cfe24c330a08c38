// `npm run cloud:provision-meter -- <meterNo> [outDir]` and `npm run cloud:provision-chirpstack -- [outDir]`:
// provision a device identity in AWS IoT Core (AWS SDK, the default credential chain and region): the thing
// (a meter's is named by its meterNo, ChirpStack's is quantify:chirpstack), a new active certificate and key
// written to files in outDir (default ./certs; the key mode 0600, never printed or logged), the stack's
// policy attached to the certificate (IOT_METER_POLICY / IOT_CHIRPSTACK_POLICY: the stack outputs
// MeterPolicyName / ChirpStackPolicyName) and the certificate attached to the thing. The device then
// connects with its thing name as client id. Running it again for the same thing adds a second certificate
// (rotation); deactivate the old one in the console or with `aws iot update-certificate`.
import 'dotenv/config';
import { mkdir, writeFile } from 'node:fs/promises';
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
import { chirpstackThingName } from '#domain/device-access';
import { isMeterNo } from '#domain/topics';

export interface ProvisionRequest {
  thingName: string;
  policyName: string;
  outDir: string;
}

export interface Provisioned {
  thingName: string;
  certificateArn: string;
  certificateFile: string;
  privateKeyFile: string;
  endpoint: string | undefined;
  thingExisted: boolean;
}

/** A file name for a thing name (ChirpStack's holds a `:`, which some file systems refuse). */
const fileStem = (thingName: string) => thingName.replace(/[^A-Za-z0-9_-]/g, '_');

export async function provisionThing(iot: IoTClient, request: ProvisionRequest): Promise<Provisioned> {
  const { thingName, policyName, outDir } = request;
  let thingExisted = false;
  try {
    await iot.send(new CreateThingCommand({ thingName }));
  } catch (error) {
    if (!(error instanceof ResourceAlreadyExistsException)) throw error;
    thingExisted = true;
  }
  const created = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  const { certificateArn, certificateId, certificatePem } = created;
  const privateKey = created.keyPair?.PrivateKey;
  if (!certificateArn || !certificateId || !certificatePem || !privateKey) throw new Error('IoT Core returned no certificate or key');
  const certificateFile = path.join(outDir, `${fileStem(thingName)}.cert.pem`);
  const privateKeyFile = path.join(outDir, `${fileStem(thingName)}.private.key`);
  try {
    await mkdir(outDir, { recursive: true });
    // 'wx': never overwrite the key of a certificate still in use.
    await writeFile(privateKeyFile, privateKey, { mode: 0o600, flag: 'wx' });
    await writeFile(certificateFile, certificatePem, { mode: 0o644, flag: 'wx' });
  } catch (error) {
    // The key exists nowhere else: a certificate nobody holds the key of is removed again.
    await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
    await iot.send(new DeleteCertificateCommand({ certificateId }));
    throw error;
  }
  await iot.send(new AttachPolicyCommand({ policyName, target: certificateArn }));
  await iot.send(new AttachThingPrincipalCommand({ thingName, principal: certificateArn }));
  const endpoint = (await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }))).endpointAddress;
  return { thingName, certificateArn, certificateFile, privateKeyFile, endpoint, thingExisted };
}

// Run as a command.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const [kind, ...args] = process.argv.slice(2);
  const usage = () => {
    console.error('usage: npm run cloud:provision-meter -- <meterNo> [outDir]  |  npm run cloud:provision-chirpstack -- [outDir]');
    process.exit(2);
  };
  let request: ProvisionRequest | undefined;
  if (kind === 'meter') {
    const [meterNo, outDir = 'certs'] = args;
    if (!meterNo || !isMeterNo(meterNo)) usage();
    const policyName = process.env.IOT_METER_POLICY;
    if (!policyName) throw new Error('set IOT_METER_POLICY to the stack output MeterPolicyName');
    request = { thingName: meterNo ?? '', policyName, outDir };
  } else if (kind === 'chirpstack') {
    const [outDir = 'certs'] = args;
    const policyName = process.env.IOT_CHIRPSTACK_POLICY;
    if (!policyName) throw new Error('set IOT_CHIRPSTACK_POLICY to the stack output ChirpStackPolicyName');
    request = { thingName: chirpstackThingName, policyName, outDir };
  } else usage();
  if (request) {
    const done = await provisionThing(new IoTClient({}), request);
    console.log(
      [
        `${done.thingExisted ? 'thing existed' : 'thing created'}: ${done.thingName}`,
        `certificate ${done.certificateArn}`,
        `  written to ${done.certificateFile}, key to ${done.privateKeyFile} (mode 0600)`,
        `connect to ${done.endpoint ?? '(describe-endpoint failed)'}:8883 with client id ${done.thingName}`,
        ...(kind === 'meter' ? [`  e.g. ESP32_HOST=${done.endpoint ?? '<endpoint>'} ESP32_CERT=${done.certificateFile} ESP32_KEY=${done.privateKeyFile} npm run esp32 -- ${done.thingName}`] : []),
      ].join('\n'),
    );
  }
}
