// The account's IoT data endpoint (where the dispatcher publishes commands) differs per account and region
// and cannot be looked up at synth time without credentials. This asks IoT for it at deploy time instead,
// so a fresh deployment needs no manual step; a context value can still pin it.
import { Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

export class IotDataEndpoint extends Construct {
  /** Host name of the ATS data endpoint, e.g. `abc123-ats.iot.eu-west-1.amazonaws.com`. */
  public readonly address: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Reads the IoT data endpoint at deploy time',
    });
    logGroup.grantWrite(role);
    const call: cr.AwsSdkCall = {
      service: '@aws-sdk/client-iot',
      action: 'DescribeEndpoint',
      parameters: { endpointType: 'iot:Data-ATS' },
      physicalResourceId: cr.PhysicalResourceId.of('iot-data-ats-endpoint'),
      outputPaths: ['endpointAddress'],
    };
    const lookup = new cr.AwsCustomResource(this, 'Lookup', {
      onCreate: call,
      onUpdate: call,
      role,
      logGroup,
      installLatestAwsSdk: false,
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['iot:DescribeEndpoint'], resources: ['*'] }),
      ]),
    });
    this.address = lookup.getResponseField('endpointAddress');

    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'iot:DescribeEndpoint supports no resource-level permissions (Service Authorization Reference); it is the only action granted.',
    });
  }
}
