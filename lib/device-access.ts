// The device-access capability: the IoT Core policies the device certificates carry, written from the same
// topic grammar (functions/domain/topics.ts) and identity scheme (functions/domain/device-access.ts) as the
// local broker's rules. A meter's thing name is its meterNo, and it connects with that as client id; IoT Core
// takes the thing name for the policy variables from the client id and checks the certificate is attached
// to that thing, so one policy serves every meter while confining each to its own topics. ChirpStack's MQTT
// integration has its own thing and policy: publish device events, read its command topics.
import { ArnFormat, CfnOutput, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import { Construct } from 'constructs';
import { chirpstackThingName } from '#domain/device-access';
import { chirpstackCommandFilter, chirpstackEventFilter, esp32CommandFilter, esp32ReportKinds, esp32ReportTopic } from '#domain/topics';

/** IoT policy variable for the connected thing's name (= the client id); IoT substitutes it per connection. */
export const THING_NAME = '${iot:Connection.Thing.ThingName}';

/**
 * An MQTT topic filter as an IoT policy resource name: `+` and `#` are literal characters in a policy, so
 * MQTT's wildcards become the policy's `*` (which also spans levels: the filters here end in them or hold
 * them where any single level is allowed).
 */
export const asPolicyWildcard = (mqttFilter: string): string => mqttFilter.replace(/\/#$/, '/*').replace(/(^|\/)\+(?=\/|$)/g, '$1*');

export class DeviceAccess extends Construct {
  public readonly meterPolicy: iot.CfnPolicy;
  public readonly chirpstackPolicy: iot.CfnPolicy;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    const iotArn = (resource: 'client' | 'topic' | 'topicfilter', name: string) =>
      stack.formatArn({ service: 'iot', resource, resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    // Only a certificate attached to the thing may use its name, so one device cannot pose as another.
    const connectAsOwnThing = new iam.PolicyStatement({
      sid: 'ConnectAsOwnThing',
      actions: ['iot:Connect'],
      resources: [iotArn('client', THING_NAME)],
      conditions: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
    });

    // No iot:RetainPublish anywhere: a retained message in a device tree would be replayed to every later
    // subscriber (a forged retained balance command to the real meter); only the platform publishes retained.
    const meterDocument = new iam.PolicyDocument({
      statements: [
        connectAsOwnThing,
        new iam.PolicyStatement({
          sid: 'PublishOwnTelemetry',
          actions: ['iot:Publish'],
          // The topics come from the one topic grammar, with the thing name standing in for the meterNo.
          resources: esp32ReportKinds.map((kind) => iotArn('topic', esp32ReportTopic(THING_NAME, kind))),
        }),
        new iam.PolicyStatement({
          sid: 'SubscribeOwnCommands',
          actions: ['iot:Subscribe'],
          resources: [iotArn('topicfilter', asPolicyWildcard(esp32CommandFilter(THING_NAME)))],
        }),
        new iam.PolicyStatement({
          sid: 'ReceiveOwnCommands',
          actions: ['iot:Receive'],
          resources: [iotArn('topic', asPolicyWildcard(esp32CommandFilter(THING_NAME)))],
        }),
      ],
    });

    const chirpstackDocument = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'ConnectAsChirpStack',
          actions: ['iot:Connect'],
          resources: [iotArn('client', chirpstackThingName)],
          conditions: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
        }),
        new iam.PolicyStatement({
          sid: 'PublishDeviceEvents',
          actions: ['iot:Publish'],
          resources: [iotArn('topic', asPolicyWildcard(chirpstackEventFilter))],
        }),
        new iam.PolicyStatement({
          sid: 'SubscribeCommands',
          actions: ['iot:Subscribe'],
          resources: [iotArn('topicfilter', asPolicyWildcard(chirpstackCommandFilter))],
        }),
        new iam.PolicyStatement({
          sid: 'ReceiveCommands',
          actions: ['iot:Receive'],
          resources: [iotArn('topic', asPolicyWildcard(chirpstackCommandFilter))],
        }),
      ],
    });

    this.meterPolicy = new iot.CfnPolicy(this, 'MeterPolicy', { policyDocument: meterDocument });
    this.chirpstackPolicy = new iot.CfnPolicy(this, 'ChirpStackPolicy', { policyDocument: chirpstackDocument });
    new CfnOutput(this, 'MeterPolicyName', {
      value: this.meterPolicy.ref,
      description: 'Attach to each ESP32 meter certificate (thing name = client id = meterNo): npm run cloud:provision-meter -- <meterNo>',
    });
    new CfnOutput(this, 'ChirpStackPolicyName', {
      value: this.chirpstackPolicy.ref,
      description: `Attach to ChirpStack's MQTT integration certificate (thing and client id ${chirpstackThingName}): npm run cloud:provision-chirpstack`,
    });
  }
}
