// The ESP32 presence capability: an IoT rule on the lifecycle events of connecting clients
// ($aws/events/presence/connected/+) invokes a small function that sends a meter that came back online
// its current balance (functions/jobs/esp32-presence.ts). The function uses the Data API and enqueues the
// balance command; IoT may invoke it from this rule only.
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Commands } from './commands.ts';
import type { Database } from './database.ts';
import { IOT_SQL_VERSION } from './ingest.ts';
import { QuantifyFunction } from './quantify-function.ts';

export interface Esp32PresenceProps {
  readonly database: Database;
  readonly commands: Commands;
}

/** The rule's SQL: connect events of every client (the function ignores clients that are not meters). */
export const PRESENCE_SQL = "SELECT clientId, eventType, timestamp FROM '$aws/events/presence/connected/+'";

export class Esp32Presence extends Construct {
  public readonly handler: QuantifyFunction;
  public readonly rule: iot.CfnTopicRule;
  public readonly ruleErrors: logs.LogGroup;

  constructor(scope: Construct, id: string, props: Esp32PresenceProps) {
    super(scope, id);
    this.handler = new QuantifyFunction(this, 'Handler', {
      entry: 'functions/jobs/esp32-presence.ts',
      description: 'Sends an ESP32 meter that came back online (IoT lifecycle event) its current balance',
      timeout: Duration.seconds(30),
    });
    props.database.grantDataApi(this.handler);
    props.commands.allowEnqueue(this.handler);

    this.ruleErrors = new logs.LogGroup(this, 'RuleErrors', { retention: logs.RetentionDays.ONE_MONTH });
    const errorRole = new iam.Role(this, 'RuleErrorRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
      description: 'Lets the ESP32 presence rule log its failures',
    });
    this.ruleErrors.grantWrite(errorRole);
    this.ruleErrors.grant(errorRole, 'logs:DescribeLogStreams');

    const prefix = Stack.of(this).stackName.replace(/[^A-Za-z0-9_]/g, '_');
    this.rule = new iot.CfnTopicRule(this, 'Rule', {
      ruleName: `${prefix}_esp32_presence`,
      topicRulePayload: {
        description: 'ESP32 meters coming online: push their current balance',
        sql: PRESENCE_SQL,
        awsIotSqlVersion: IOT_SQL_VERSION,
        ruleDisabled: false,
        actions: [{ lambda: { functionArn: this.handler.functionArn } }],
        errorAction: { cloudwatchLogs: { logGroupName: this.ruleErrors.logGroupName, roleArn: errorRole.roleArn } },
      },
    });
    this.rule.node.addDependency(errorRole);
    // The Lambda rule action needs a resource policy on the function, for this rule only.
    this.handler.addPermission('InvokeFromPresenceRule', {
      principal: new iam.ServicePrincipal('iot.amazonaws.com'),
      sourceArn: this.rule.attrArn,
      sourceAccount: Aws.ACCOUNT_ID,
    });
  }
}
