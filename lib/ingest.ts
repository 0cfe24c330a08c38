// The ingest capability: IoT Core topic rules (one per entry of the shared route table) put each uplink on
// an SQS queue, and the decoder Lambda drains it in batches. SQS sits between IoT and Lambda because a
// rule's direct Lambda action is an asynchronous invoke that can drop events under throttling; a queue
// keeps them, lets the consumer batch (one INSERT per batch) and dead-letters what keeps failing.
import { Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { topicRoutes, type TopicRoute } from '#shared/routes';
import type { Database } from './database.ts';
import { QuantifyFunction } from './quantify-function.ts';
import { WorkQueue } from './work-queue.ts';

export interface IngestProps {
  readonly database: Database;
  /** @default 10: bounds concurrent Data API writers when a backlog drains */
  readonly maxConcurrency?: number;
}

/** IoT SQL version every rule is written against (the route table's SQL uses its functions). */
export const IOT_SQL_VERSION = '2016-03-23';

export class Ingest extends Construct {
  public readonly work: WorkQueue;
  public readonly decoder: QuantifyFunction;
  public readonly httpIntegration: QuantifyFunction;
  /** Shared token ChirpStack's HTTP integration sends; the operator copies it into ChirpStack. */
  public readonly httpIntegrationToken: secretsmanager.Secret;
  public readonly rules: readonly iot.CfnTopicRule[];
  public readonly ruleErrors: logs.LogGroup;
  public readonly alarms: readonly cw.Alarm[];

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);

    const decoderTimeout = Duration.seconds(30);
    this.work = new WorkQueue(this, 'Uplinks', {
      consumerTimeout: decoderTimeout,
      maxReceiveCount: 5,
      alarmDescription: 'Uplinks failed decoding or storing 5 times and are parked in the ingest dead-letter queue',
    });

    this.decoder = new QuantifyFunction(this, 'Decoder', {
      entry: 'functions/ingest/queue-handler.ts',
      description: 'Decodes queued uplinks (ChirpStack, ESP32) and stores them a batch at a time',
      timeout: decoderTimeout,
    });
    props.database.grantDataApi(this.decoder);
    this.work.consumeWith(this.decoder, {
      batchSize: 100,
      // Fill batches for up to a second: fewer, larger INSERTs at the cost of a second of latency.
      maxBatchingWindow: Duration.seconds(1),
      maxConcurrency: props.maxConcurrency ?? 10,
    });

    this.httpIntegrationToken = new secretsmanager.Secret(this, 'HttpIntegrationToken', {
      description: 'Shared token ChirpStack sends with its HTTP integration (copy it into the integration headers)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(this.httpIntegrationToken).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A shared token that must be changed in ChirpStack at the same moment; rotating it is an operator ' +
        'procedure, not something a rotation Lambda can do.',
    });
    this.httpIntegration = new QuantifyFunction(this, 'HttpIntegration', {
      entry: 'functions/ingest/http-integration.ts',
      description: 'Accepts ChirpStack HTTP integration events and queues them like MQTT uplinks',
      timeout: Duration.seconds(10),
    })
      .sendsTo(this.work.queue, 'INGEST_QUEUE_URL')
      .readsSecret(this.httpIntegrationToken, 'CHIRPSTACK_HTTP_INTEGRATION_TOKEN_SECRET_ARN');
    // It only checks the token and queues the uplink (the decoder stores it), and it is open at the
    // gateway: so no Data API grant. Its config parse still requires the database variables, hence these.
    props.database.identifyTo(this.httpIntegration);

    // Failed rule actions (SQS throttled, permissions) land here with the original payload, base64.
    this.ruleErrors = new logs.LogGroup(this, 'RuleErrors', { retention: logs.RetentionDays.THREE_MONTHS });
    this.rules = this.createTopicRules(topicRoutes);

    const ruleErrorAlarm = new cw.Alarm(this, 'RuleErrorAlarm', {
      alarmDescription: 'An IoT topic rule could not deliver an uplink to the ingest queue (see the rule error log group)',
      metric: this.ruleErrors.metricIncomingLogEvents({ period: Duration.minutes(5), statistic: cw.Stats.SUM }),
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    this.alarms = [this.work.deadLetterAlarm, ruleErrorAlarm];
  }

  private createTopicRules(routes: readonly TopicRoute[]): iot.CfnTopicRule[] {
    const role = new iam.Role(this, 'TopicRuleRole', {
      // aws:SourceAccount stops another account's rule from borrowing this role (confused deputy).
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lets the Quantify IoT topic rules queue uplinks and log their failures',
    });
    this.work.queue.grantSendMessages(role);
    // The CloudWatch Logs rule action also describes streams before writing (AWS IoT developer guide).
    this.ruleErrors.grantWrite(role);
    this.ruleErrors.grant(role, 'logs:DescribeLogStreams');

    const prefix = Stack.of(this).stackName.replace(/[^A-Za-z0-9_]/g, '_');
    return routes.map((route) => {
      const rule = new iot.CfnTopicRule(this, `Rule_${route.name}`, {
        // Rule names are per account and region: prefix with the stack so two stages can coexist.
        ruleName: `${prefix}_${route.name}`,
        topicRulePayload: {
          description: `Route ${route.name} (${route.topicFilter}) to the ingest queue`,
          sql: route.iotSql,
          awsIotSqlVersion: IOT_SQL_VERSION,
          ruleDisabled: false,
          actions: [{ sqs: { queueUrl: this.work.queue.queueUrl, roleArn: role.roleArn, useBase64: false } }],
          errorAction: { cloudwatchLogs: { logGroupName: this.ruleErrors.logGroupName, roleArn: role.roleArn } },
        },
      });
      // IoT checks the role when the rule is created: its policy must be attached by then.
      rule.node.addDependency(role);
      return rule;
    });
  }
}
