// Synth-time tests of the Quantify stack: the wiring that matters (IoT rule SQL from the route table, error
// actions, queue/DLQ/alarm shape, batch event sources, Data API grants, the JWT authorizer, scoped IAM,
// the migration custom resource) and a clean cdk-nag AWS Solutions report. Bundling is skipped
// ('aws:cdk:bundling-stacks': []) so this stays fast; `npm run synth` exercises the real bundling.
// cdk-nag v3 runs as a policy-validation plugin; `validateScope` is its documented entry point for tests
// (cdk-nag README / nag-pack.d.ts), and acknowledgements are CDK's `Validations.of(x).acknowledge`.
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lambdaConfigSchema } from '#shared/config';
import { httpRoutes, scheduledJobs, topicRoutes } from '#shared/routes';
import { BUNDLED_SCHEMA_DIR, hashSchema } from '../../lib/database.ts';
import { IOT_SQL_VERSION } from '../../lib/ingest.ts';
import { logicalIdOf } from '../../lib/nag.ts';
import { LAMBDA_RUNTIME, QuantifyFunction, repoRoot } from '../../lib/quantify-function.ts';
import { QuantifyStack, type QuantifyStackProps } from '../../lib/quantify-stack.ts';
import { VISIBILITY_TIMEOUT_FACTOR } from '../../lib/work-queue.ts';

type Json = Record<string, unknown>;
interface CfnResource {
  Type: string;
  Properties: Json;
  DependsOn?: string[];
}

function synth(config: QuantifyStackProps['config'] = {}): { stack: QuantifyStack; template: Template } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new QuantifyStack(app, 'Quantify', { config });
  return { stack, template: Template.fromStack(stack) };
}

let stack: QuantifyStack;
let template: Template;
let resources: Record<string, CfnResource>;

beforeAll(() => {
  ({ stack, template } = synth());
  resources = template.toJSON().Resources as Record<string, CfnResource>;
});

const ref = (construct: IConstruct) => ({ Ref: logicalIdOf(construct) });
const arnOf = (construct: IConstruct) => ({ 'Fn::GetAtt': [logicalIdOf(construct), 'Arn'] });
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** Every statement of every inline policy attached to the role with this logical ID. */
function statementsOf(roleId: string): Json[] {
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Json[] }).Statement);
}
const actionsOf = (s: Json) => [s.Action].flat() as string[];
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const envOf = (fn: IConstruct) => (resources[logicalIdOf(fn)]?.Properties.Environment as { Variables: Json }).Variables;
const dbSecret = () => ref(stack.database.cluster.node.findChild('Secret').node.findChild('Attachment'));

describe('cdk-nag AWS Solutions checks', () => {
  it('reports no unacknowledged error or warning', () => {
    // Act
    const report = new AwsSolutionsChecks().validateScope(stack);

    // Assess
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
  });

  it('acknowledges each finding by its exact id and with a specific reason', () => {
    // Prepare
    const acknowledged = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      // Ours only: aws-cdk-lib acknowledges a few CloudFormation-validation findings of its own.
      .filter(([id]) => /AwsSolutions-|W2531/.test(id));

    // Assess
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) {
      // A bare IAM5 acknowledgement would cover any wildcard; each must name the one finding it accepts.
      if (id.includes('AwsSolutions-IAM5')) expect(id, id).toMatch(/AwsSolutions-IAM5\[.+\]$/);
      expect(reason.length, `reason for ${id}`).toBeGreaterThan(40);
    }
  });

  it('stays clean when deletion protection is turned off for a throwaway stack', () => {
    // Prepare
    const { stack: unprotected, template: t } = synth({ deletionProtection: false });

    // Act
    const report = new AwsSolutionsChecks().validateScope(unprotected);

    // Assess
    t.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: false });
    t.hasResourceProperties('AWS::Cognito::UserPool', { DeletionProtection: 'INACTIVE' });
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('ingest', () => {
  // The ingest rules: every topic rule but the ESP32 presence rule (lifecycle events, see below).
  const ingestRules = () => ofType('AWS::IoT::TopicRule').filter(([id]) => id !== logicalIdOf(stack.esp32Presence.rule)).map(([, r]) => r.Properties.TopicRulePayload as Json);

  it('has one IoT rule per route, with the route table SQL verbatim', () => {
    // Prepare
    const rules = ingestRules();

    // Assess
    expect(rules.map((r) => r.Sql).sort()).toEqual(topicRoutes.map((r) => r.iotSql).sort());
    for (const rule of rules) expect(rule.AwsIotSqlVersion).toBe(IOT_SQL_VERSION);
  });

  it('sends every rule to the ingest queue and gives it an error action', () => {
    // Prepare
    const rules = ingestRules();

    // Assess
    expect(rules).toHaveLength(topicRoutes.length);
    for (const rule of rules) {
      expect(rule.Actions).toEqual([{ Sqs: expect.objectContaining({ QueueUrl: ref(stack.ingest.work.queue), UseBase64: false }) as unknown }]);
      expect(rule.ErrorAction).toEqual({
        CloudwatchLogs: expect.objectContaining({ LogGroupName: ref(stack.ingest.ruleErrors) }) as unknown,
      });
    }
  });

  it('lets the rules role send to the ingest queue only', () => {
    // Prepare
    const role = stack.ingest.node.findChild('TopicRuleRole');
    const roleArns = ingestRules().flatMap((r) => {
      const payload = r as { Actions: { Sqs: Json }[]; ErrorAction: { CloudwatchLogs: Json } };
      return [payload.Actions[0]?.Sqs.RoleArn, payload.ErrorAction.CloudwatchLogs.RoleArn];
    });

    // Act
    const sqsStatements = statementsOf(logicalIdOf(role)).filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:')));

    // Assess
    for (const arn of roleArns) expect(arn).toEqual(arnOf(role));
    expect(sqsStatements).toEqual([expect.objectContaining({ Resource: arnOf(stack.ingest.work.queue) })]);
    expect(actionsOf(sqsStatements[0] ?? {})).toContain('sqs:SendMessage');
  });

  it('drains the queue in batches of 100 with a batching window and partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: arnOf(stack.ingest.work.queue),
      FunctionName: ref(stack.ingest.decoder),
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('lets the HTTP integration queue uplinks, with the queue URL in its environment', () => {
    // Prepare
    const env = envOf(stack.ingest.httpIntegration);
    const statements = statementsOf(logicalIdOf(stack.ingest.httpIntegration.executionRole));

    // Assess
    expect(env).toMatchObject({
      INGEST_QUEUE_URL: ref(stack.ingest.work.queue),
      CHIRPSTACK_HTTP_INTEGRATION_TOKEN_SECRET_ARN: ref(stack.ingest.httpIntegrationToken),
    });
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: expect.arrayContaining(['sqs:SendMessage']) as unknown, Resource: arnOf(stack.ingest.work.queue) }),
    );
  });
});

describe('queues', () => {
  const workQueues = () => [
    ['ingest', stack.ingest.work] as const,
    ['commands', stack.commands.work] as const,
  ];

  it('dead-letters after 5 receives and alarms on the first dead letter', () => {
    for (const [name, work] of workQueues()) {
      // Prepare
      const queue = resources[logicalIdOf(work.queue)];
      const alarm = resources[logicalIdOf(work.deadLetterAlarm)];

      // Assess
      expect(queue?.Properties.RedrivePolicy, name).toEqual({ deadLetterTargetArn: arnOf(work.deadLetterQueue), maxReceiveCount: 5 });
      expect(alarm?.Properties, name).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(work.deadLetterQueue), 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it('keeps every message invisible for at least six consumer timeouts', () => {
    for (const [, mapping] of ofType('AWS::Lambda::EventSourceMapping')) {
      // Prepare
      const queueId = (mapping.Properties.EventSourceArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
      const fnId = (mapping.Properties.FunctionName as { Ref: string }).Ref;
      const visibility = resources[queueId]?.Properties.VisibilityTimeout as number;
      const timeout = resources[fnId]?.Properties.Timeout as number;

      // Assess
      expect(visibility, queueId).toBeGreaterThanOrEqual(VISIBILITY_TIMEOUT_FACTOR * timeout);
    }
  });

  it('encrypts every queue and refuses plain HTTP', () => {
    for (const [id, queue] of ofType('AWS::SQS::Queue')) expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
    expect(ofType('AWS::SQS::QueuePolicy')).toHaveLength(ofType('AWS::SQS::Queue').length);
  });
});

describe('database', () => {
  it('is Aurora PostgreSQL Serverless v2 with the Data API, encrypted and deletion-protected', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      DeletionProtection: true,
      BackupRetentionPeriod: 7,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
    });
    template.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless', PubliclyAccessible: false });
  });

  it('runs the migrations after the writer exists, again whenever schema/ changes', () => {
    // Prepare
    const writer = stack.database.cluster.node.findAll().find((c) => c.node.id === 'writer');
    const migrations = resources[logicalIdOf(stack.database.migrations)];

    // Assess
    expect(writer).toBeDefined();
    expect(migrations?.Type).toBe('Custom::SchemaMigrations');
    expect(migrations?.Properties.SchemaHash).toBe(hashSchema(`${repoRoot}/schema`));
    expect(migrations?.DependsOn).toContain(logicalIdOf(writer as IConstruct));
  });

  it('gives the migration function its bundled schema directory', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('migrations'),
      Environment: { Variables: Match.objectLike({ SCHEMA_DIR: BUNDLED_SCHEMA_DIR, DB_NAME: 'quantify' }) },
    });
  });

  it('grants the Data API and the secret to every function that queries the database', () => {
    // Prepare
    const { api, ingest, commands, offlineMeters, database } = stack;
    const users = [api.handler, ingest.decoder, commands.dispatcher, commands.sweeper, offlineMeters, database.migrateFunction];

    for (const fn of users) {
      // Act
      const statements = statementsOf(logicalIdOf(fn.executionRole));
      const env = envOf(fn);

      // Assess
      expect(env, fn.node.path).toMatchObject({ DB_CLUSTER_ARN: expect.anything() as unknown, DB_SECRET_ARN: dbSecret(), DB_NAME: 'quantify' });
      expect(statements.some((s) => actionsOf(s).includes('rds-data:ExecuteStatement')), fn.node.path).toBe(true);
      expect(statements.some((s) => actionsOf(s).includes('secretsmanager:GetSecretValue') && same(s.Resource, dbSecret())), fn.node.path).toBe(true);
    }
  });

  it('keeps the HTTP integration, open at the gateway, away from the database', () => {
    // Act
    const statements = statementsOf(logicalIdOf(stack.ingest.httpIntegration.executionRole));

    // Assess
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('rds-data:'))).toEqual([]);
    expect(statements.filter((s) => same(s.Resource, dbSecret()))).toEqual([]);
  });
});

describe('commands', () => {
  it('dispatches in batches reporting partial failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: arnOf(stack.commands.work.queue),
      FunctionName: ref(stack.commands.dispatcher),
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('lets the dispatcher publish only balance commands over IoT', () => {
    // Prepare
    const statements = statementsOf(logicalIdOf(stack.commands.dispatcher.executionRole));
    const iot = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('iot:')));

    // Assess
    expect(iot).toHaveLength(1);
    expect(actionsOf(iot[0] ?? {})).toEqual(['iot:Publish']);
    expect(JSON.stringify(iot[0]?.Resource)).toMatch(/:topic\/smartmeter\/\*\/command\/balance"\]\]\}$/);
  });

  it('lets the API, the ingest decoder, the sweeper and the parking reservations job enqueue commands, with the queue URL in their environment', () => {
    for (const fn of [stack.api.handler, stack.ingest.decoder, stack.commands.sweeper, stack.parkingReservations]) {
      // Prepare
      const env = envOf(fn);
      const statements = statementsOf(logicalIdOf(fn.executionRole));

      // Assess
      expect(env.COMMAND_QUEUE_URL).toEqual(ref(stack.commands.work.queue));
      expect(statements).toContainEqual(
        expect.objectContaining({ Action: expect.arrayContaining(['sqs:SendMessage']) as unknown, Resource: arnOf(stack.commands.work.queue) }),
      );
    }
  });

  it('configures the dispatcher for ChirpStack and the IoT data plane', () => {
    // Prepare
    const env = envOf(stack.commands.dispatcher);

    // Assess
    expect(env).toMatchObject({
      CHIRPSTACK_API_URL: { Ref: 'ChirpStackApiUrl' },
      CHIRPSTACK_API_KEY_SECRET_ARN: ref(stack.commands.chirpstackApiKey),
    });
    expect(env.IOT_DATA_ENDPOINT).toBeDefined();
  });

  it('uses a pinned IoT data endpoint when the context gives one', () => {
    // Prepare
    const { template: pinned } = synth({ iotDataEndpoint: 'abc123-ats.iot.eu-west-1.amazonaws.com' });

    // Assess
    pinned.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ IOT_DATA_ENDPOINT: 'abc123-ats.iot.eu-west-1.amazonaws.com' }) },
    });
    pinned.resourceCountIs('Custom::AWS', 0);
  });
});

describe('api', () => {
  it('has exactly the routes of the shared HTTP route table', () => {
    // Prepare
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties.RouteKey, r.Properties.AuthorizationType]);

    // Assess
    expect(routes.sort()).toEqual(
      httpRoutes.map((r) => [`${r.method} ${r.path}`, r.auth === 'jwt' ? 'JWT' : 'NONE']).sort(),
    );
  });

  it('puts the Cognito JWT authorizer on the proxy route', () => {
    // Prepare
    const [authorizerId, authorizer] = ofType('AWS::ApiGatewayV2::Authorizer')[0] ?? [];

    // Assess
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Audience: [ref(stack.api.userPoolClient), ref(stack.api.collectorCredential.client)] },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'ANY /{proxy+}',
      AuthorizationType: 'JWT',
      AuthorizerId: { Ref: authorizerId },
    });
  });

  it('has a closed user pool with the three role groups', () => {
    template.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: 'ON',
      DeletionProtection: 'ACTIVE',
    });
    expect(ofType('AWS::Cognito::UserPoolGroup').map(([, g]) => g.Properties.GroupName).sort()).toEqual(['admin', 'collector', 'operator', 'viewer']);
  });

  it('gives the collector a client-credentials app client allowed only the readings scope of the API resource server', () => {
    // Prepare
    const credential = stack.api.collectorCredential;
    const client = resources[logicalIdOf(credential.client)]?.Properties;
    const server = resources[logicalIdOf(credential.resourceServer)]?.Properties;
    const scopes = client?.AllowedOAuthScopes as unknown[];

    // Assess
    expect(server).toMatchObject({ Identifier: 'quantify', Scopes: [expect.objectContaining({ ScopeName: 'readings.write' })] });
    expect(client).toMatchObject({ GenerateSecret: true, AllowedOAuthFlows: ['client_credentials'], AllowedOAuthFlowsUserPoolClient: true, EnableTokenRevocation: true });
    expect(scopes).toHaveLength(1);
    expect(JSON.stringify(scopes[0])).toContain('/readings.write');
    expect(client?.ExplicitAuthFlows ?? []).toEqual([]);
    // A user pool has one domain: the portal's hosted UI domain serves the collector's token endpoint too.
    template.resourceCountIs('AWS::Cognito::UserPoolDomain', 1);
    template.hasResourceProperties('AWS::Cognito::UserPoolDomain', { UserPoolId: ref(stack.api.userPool) });
    // The portal's client may not ask for the collector's scope.
    expect(JSON.stringify(resources[logicalIdOf(stack.api.userPoolClient)]?.Properties)).not.toContain('readings.write');
  });

  it('logs access and throttles on the default stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
  });
});

describe('payments', () => {
  it('routes Daraja callbacks to their function without the JWT authorizer', () => {
    // Prepare
    const [, route] = ofType('AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties.RouteKey === 'POST /integrations/daraja/{proxy+}') ?? [];
    const [integrationId] = ofType('AWS::ApiGatewayV2::Integration').find(([, i]) => same(i.Properties.IntegrationUri, arnOf(stack.payments.callbacks))) ?? [];

    // Assess
    expect(route?.Properties.AuthorizationType).toBe('NONE');
    expect(route?.Properties.Target).toEqual({ 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] });
  });

  it('gives the callbacks, the M-Pesa jobs and the API the Daraja secret, and the first two the Data API', () => {
    for (const fn of [stack.payments.callbacks, stack.payments.jobs, stack.api.handler]) {
      // Prepare
      const statements = statementsOf(logicalIdOf(fn.executionRole));

      // Assess
      expect(envOf(fn)).toMatchObject({ DARAJA_SECRET_ARN: ref(stack.payments.secret) });
      expect(statements).toContainEqual(
        expect.objectContaining({ Action: expect.arrayContaining(['secretsmanager:GetSecretValue']) as unknown, Resource: ref(stack.payments.secret) }),
      );
    }
    for (const fn of [stack.payments.callbacks, stack.payments.jobs]) {
      expect(statementsOf(logicalIdOf(fn.executionRole)).some((s) => actionsOf(s).includes('rds-data:ExecuteStatement'))).toBe(true);
    }
  });

  it('generates the callback token without the words Safaricom refuses in URLs', () => {
    // Prepare
    const secret = resources[logicalIdOf(stack.payments.secret)];

    // Assess
    expect(secret?.Properties.GenerateSecretString).toMatchObject({ GenerateStringKey: 'callbackToken', PasswordLength: 64, ExcludeUppercase: true, ExcludeCharacters: 'ghijklmnopqrstuvwxyz' });
  });
});

describe('schedules', () => {
  it('schedules each job of the shared table with its expression verbatim', () => {
    // Prepare
    const targets = { offline_meters: stack.offlineMeters, command_sweeper: stack.commands.sweeper, stk_query: stack.payments.jobs, daraja_reconcile: stack.payments.jobs, parking_reservations: stack.parkingReservations, billing: stack.billing, notifications: stack.notifications.drain, readings_retention: stack.readingsRetention };

    // Assess
    expect(ofType('AWS::Scheduler::Schedule')).toHaveLength(scheduledJobs.length);
    for (const job of scheduledJobs) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: job.expression,
        Target: Match.objectLike({ Arn: arnOf(targets[job.name]), Input: JSON.stringify({ job: job.name }) }),
      });
    }
  });
});

describe('billing interval', () => {
  it('runs the billing job at the configured rate (singular for one minute), the other jobs as the table says', () => {
    for (const [minutes, expression] of [[5, 'rate(5 minutes)'], [1, 'rate(1 minute)'], [60, 'rate(60 minutes)']] as const) {
      // Act
      const { stack: s, template: t } = synth({ billingIntervalMinutes: minutes });

      // Assess
      t.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: expression,
        Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalIdOf(s.billing), 'Arn'] }, Input: JSON.stringify({ job: 'billing' }) }),
      });
      const expressions = Object.values(t.findResources('AWS::Scheduler::Schedule')).map((r) => (r as CfnResource).Properties.ScheduleExpression);
      expect(expressions.filter((e) => e === 'rate(15 minutes)')).toHaveLength(1); // daraja_reconcile only
    }
  });

  it('defaults to every 15 minutes and refuses an interval out of range', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      Target: Match.objectLike({ Arn: arnOf(stack.billing), Input: JSON.stringify({ job: 'billing' }) }),
    });
    expect(() => synth({ billingIntervalMinutes: 0 })).toThrow();
    expect(() => synth({ billingIntervalMinutes: 2000 })).toThrow();
  });
});

describe('notifications', () => {
  it('drains the outbox every minute with the Africa\'s Talking key secret and the Data API, nothing else', () => {
    // Prepare
    const fn = stack.notifications.drain;
    const statements = statementsOf(logicalIdOf(fn.executionRole));
    const secretReads = statements.filter((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'));

    // Assess
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      Target: Match.objectLike({ Arn: arnOf(fn), Input: JSON.stringify({ job: 'notifications' }) }),
    });
    expect(envOf(fn)).toMatchObject({ AT_API_KEY_SECRET_ARN: ref(stack.notifications.apiKey) });
    expect(secretReads.map((s) => s.Resource)).toEqual(expect.arrayContaining([ref(stack.notifications.apiKey), dbSecret()]));
    expect(secretReads).toHaveLength(2);
    expect(statements.some((s) => actionsOf(s).includes('rds-data:ExecuteStatement'))).toBe(true);
    expect(statements.flatMap(actionsOf).filter((a) => /^(sqs|iot|sns):/.test(a))).toEqual([]);
    // Only the drain reads the key.
    const readers = ofType('AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(JSON.stringify(ref(stack.notifications.apiKey))));
    expect(readers).toHaveLength(1);
  });

  it('sets the username and sender id, and uses an existing key secret when given', () => {
    // Act
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:at-key-AbCdEf';
    const { stack: s, template: t } = synth({ atUsername: 'quantify', atSenderId: 'QUANTIFY', atApiKeySecretArn: arn });
    const env = (t.toJSON().Resources as Record<string, CfnResource>)[logicalIdOf(s.notifications.drain)]?.Properties.Environment as { Variables: Json };

    // Assess
    expect(env.Variables).toMatchObject({ AT_USERNAME: 'quantify', AT_SENDER_ID: 'QUANTIFY', AT_API_KEY_SECRET_ARN: arn });
    expect(Object.keys(t.findResources('AWS::SecretsManager::Secret')).some((id) => id.includes('AfricasTalking'))).toBe(false);
  });
});

describe('ESP32 presence', () => {
  it('invokes its function from the lifecycle rule of connecting clients only, which may query the database and enqueue commands', () => {
    // Prepare
    const { rule, handler, ruleErrors } = stack.esp32Presence;
    const payload = resources[logicalIdOf(rule)]?.Properties.TopicRulePayload as Json;
    const permissions = ofType('AWS::Lambda::Permission').filter(([, p]) => same(p.Properties.FunctionName, arnOf(handler)));
    const statements = statementsOf(logicalIdOf(handler.executionRole));

    // Assess
    expect(payload.Sql).toBe("SELECT clientId, eventType, timestamp FROM '$aws/events/presence/connected/+'");
    expect(payload.Actions).toEqual([{ Lambda: { FunctionArn: arnOf(handler) } }]);
    expect(payload.ErrorAction).toEqual({ CloudwatchLogs: expect.objectContaining({ LogGroupName: ref(ruleErrors) }) as unknown });
    expect(permissions).toHaveLength(1);
    expect(permissions[0]![1].Properties).toMatchObject({ Principal: 'iot.amazonaws.com', SourceArn: arnOf(rule), Action: 'lambda:InvokeFunction' });
    expect(envOf(handler)).toMatchObject({ COMMAND_QUEUE_URL: ref(stack.commands.work.queue), DB_SECRET_ARN: dbSecret() });
    expect(statements.some((s) => actionsOf(s).includes('rds-data:ExecuteStatement'))).toBe(true);
    expect(statements.some((s) => actionsOf(s).includes('sqs:SendMessage'))).toBe(true);
  });
});

describe('device access', () => {
  it('confines a meter to its own thing name, telemetry topics and command topics', () => {
    // Prepare
    const policy = resources[logicalIdOf(stack.deviceAccess.meterPolicy)];
    const statements = (policy?.Properties.PolicyDocument as { Statement: Json[] }).Statement;
    const tail = (s: Json | undefined) =>
      [s?.Resource].flat().map((r) => JSON.stringify(r).replace(/^.*:(client|topic|topicfilter)\//, '$1/').replace(/"\]\]\}$/, ''));
    const byAction = (action: string) => statements.find((s) => actionsOf(s).includes(action));
    const thing = '${iot:Connection.Thing.ThingName}';

    // Assess
    expect(statements.flatMap(actionsOf).sort()).toEqual(['iot:Connect', 'iot:Publish', 'iot:Receive', 'iot:Subscribe']);
    expect(tail(byAction('iot:Connect'))).toEqual([`client/${thing}`]);
    expect(byAction('iot:Connect')?.Condition).toEqual({ Bool: { 'iot:Connection.Thing.IsAttached': 'true' } });
    expect(tail(byAction('iot:Publish')).sort()).toEqual(
      ['balance', 'consumption', 'status'].map((k) => `topic/smartmeter/${thing}/${k}`),
    );
    expect(tail(byAction('iot:Subscribe'))).toEqual([`topicfilter/smartmeter/${thing}/command/*`]);
    expect(tail(byAction('iot:Receive'))).toEqual([`topic/smartmeter/${thing}/command/*`]);
  });
});

describe('function defaults', () => {
  it('runs every Quantify function on the pinned Node.js runtime, ARM64, with JSON logs to its own group', () => {
    // Prepare: QuantifyFunctions are the ones bundled from functions/
    const ourIds = new Set(
      stack.node.findAll().filter((c): c is QuantifyFunction => c instanceof QuantifyFunction).map((fn) => logicalIdOf(fn)),
    );
    const ours = ofType('AWS::Lambda::Function').filter(([id]) => ourIds.has(id));

    // Assess: api, decoder, http-integration, dispatcher, sweeper, offline-meters, parking-reservations, migrate, daraja callbacks, payment jobs, billing, notification drain, ESP32 presence, readings retention
    expect(ours).toHaveLength(14);
    for (const [id, fn] of ours) {
      expect(fn.Properties, id).toMatchObject({
        Runtime: LAMBDA_RUNTIME.name,
        Architectures: ['arm64'],
        Handler: 'index.handler',
        LoggingConfig: { LogFormat: 'JSON', LogGroup: { Ref: expect.any(String) as unknown } },
      });
      const logGroupId = ((fn.Properties.LoggingConfig as Json).LogGroup as { Ref: string }).Ref;
      expect(resources[logGroupId]?.Properties.RetentionInDays, id).toBeGreaterThan(0);
    }
  });

  it('gives every function each variable its config schema requires', () => {
    // Prepare: the handlers parse lambdaConfigSchema at cold start; a missing required variable is a crash.
    const required = Object.entries(lambdaConfigSchema.shape)
      .filter(([, schema]) => !schema.safeParse(undefined).success)
      .map(([name]) => name);
    const functions = stack.node.findAll().filter((c): c is QuantifyFunction => c instanceof QuantifyFunction);

    // Assess
    expect(required).toContain('DB_CLUSTER_ARN');
    expect(functions).toHaveLength(14);
    for (const fn of functions) expect(Object.keys(envOf(fn)), fn.node.path).toEqual(expect.arrayContaining(required));
  });

  it('is environment-agnostic, so synth needs no account', () => {
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
  });
});
