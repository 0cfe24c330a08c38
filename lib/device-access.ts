// The device-access capability: the IoT Core policy every ESP32 meter's certificate carries. Policy
// variables make one policy serve every meter while confining each to its own topics: a meter is a thing
// named by its meterNo, may connect only under that name, publish only its own telemetry and read only
// its own commands (the local broker enforces the same rules).
import { ArnFormat, CfnOutput, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import { Construct } from 'constructs';
import { esp32CommandFilter, esp32ReportKinds, esp32ReportTopic } from '#domain/topics';

/** IoT policy variable for the connected thing's name (= meterNo); IoT substitutes it per connection. */
const THING_NAME = '${iot:Connection.Thing.ThingName}';

/**
 * An MQTT topic filter as an IoT policy resource name: MQTT's multi-level `#` is the policy's `*` (in a
 * policy, `#` and `+` are literal characters).
 */
const asPolicyWildcard = (mqttFilter: string): string => mqttFilter.replace(/\/#$/, '/*');

export class DeviceAccess extends Construct {
  public readonly meterPolicy: iot.CfnPolicy;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const stack = Stack.of(this);
    const iotArn = (resource: 'client' | 'topic' | 'topicfilter', name: string) =>
      stack.formatArn({ service: 'iot', resource, resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });

    const document = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          sid: 'ConnectAsOwnThing',
          actions: ['iot:Connect'],
          resources: [iotArn('client', THING_NAME)],
          // Only a certificate attached to that thing may use the name, so one meter cannot pose as another.
          conditions: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
        }),
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

    this.meterPolicy = new iot.CfnPolicy(this, 'MeterPolicy', { policyDocument: document });
    new CfnOutput(this, 'MeterPolicyName', {
      value: this.meterPolicy.ref,
      description: 'Attach to each ESP32 meter certificate (thing name = meterNo)',
    });
  }
}
