// The one Quantify stack: composes the capabilities and wires what crosses between them (who may enqueue
// commands, which function each scheduled job runs, where alarms go). Environment-agnostic and free of
// lookups, so `cdk synth` runs offline with no AWS account.
import { CfnOutput, CfnParameter, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as cw from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { Api } from './api.ts';
import { Commands } from './commands.ts';
import { Database } from './database.ts';
import { DeviceAccess } from './device-access.ts';
import { Ingest } from './ingest.ts';
import { IotDataEndpoint } from './iot-endpoint.ts';
import { Observability } from './observability.ts';
import { QuantifyFunction } from './quantify-function.ts';
import { Payments } from './payments.ts';
import { Schedules } from './schedules.ts';
import { stackConfigSchema, type StackConfig } from './stack-config.ts';

export interface QuantifyStackProps extends StackProps {
  /** Deployment settings (see stack-config.ts); omitted ones take their defaults. */
  readonly config?: Partial<StackConfig>;
}

export class QuantifyStack extends Stack {
  public readonly database: Database;
  public readonly ingest: Ingest;
  public readonly commands: Commands;
  public readonly api: Api;
  public readonly schedules: Schedules;
  public readonly deviceAccess: DeviceAccess;
  public readonly offlineMeters: QuantifyFunction;
  public readonly readingsRetention: QuantifyFunction;
  public readonly billing: QuantifyFunction;
  public readonly payments: Payments;
  public readonly parkingReservations: QuantifyFunction;
  public readonly alarms: readonly cw.Alarm[];
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: QuantifyStackProps = {}) {
    super(scope, id, props);
    const config = stackConfigSchema.parse(props.config ?? {});

    this.database = new Database(this, 'Database', {
      minCapacity: config.dbMinCapacity,
      maxCapacity: config.dbMaxCapacity,
      deletionProtection: config.deletionProtection,
    });

    this.ingest = new Ingest(this, 'Ingest', { database: this.database });

    // A parameter rather than context: the ChirpStack URL can change with `cdk deploy --parameters`
    // without a new synth. Empty means "not configured".
    const chirpstackApiUrl = new CfnParameter(this, 'ChirpStackApiUrl', {
      type: 'String',
      default: config.chirpstackApiUrl ?? '',
      allowedPattern: '^(https?://.+)?$',
      description: 'ChirpStack REST API base URL for LoRaWAN downlinks (empty: not configured)',
    });
    this.commands = new Commands(this, 'Commands', {
      database: this.database,
      iotDataEndpoint: config.iotDataEndpoint ?? new IotDataEndpoint(this, 'IotDataEndpoint').address,
      chirpstackApiUrl: chirpstackApiUrl.valueAsString,
      ...(config.chirpstackApiKeySecretArn
        ? {
            chirpstackApiKeySecret: secretsmanager.Secret.fromSecretCompleteArn(
              this,
              'ChirpStackApiKey',
              config.chirpstackApiKeySecretArn,
            ),
          }
        : {}),
    });

    const daraja = {
      ...(config.darajaBaseUrl ? { darajaBaseUrl: config.darajaBaseUrl } : {}),
      ...(config.darajaPublicUrl ? { darajaPublicUrl: config.darajaPublicUrl } : {}),
      ...(config.darajaShortCode ? { darajaShortCode: config.darajaShortCode } : {}),
      ...(config.darajaAllowedIps ? { darajaAllowedIps: config.darajaAllowedIps } : {}),
    };
    this.payments = new Payments(this, 'Payments', { database: this.database, ...daraja });

    this.api = new Api(this, 'Api', {
      database: this.database,
      chirpstackHttpIntegration: this.ingest.httpIntegration,
      darajaCallbacks: this.payments.callbacks,
      corsAllowOrigins: config.corsAllowOrigins,
      deletionProtection: config.deletionProtection,
    });
    this.commands.allowEnqueue(this.api.handler);
    this.payments.allowStkPush(this.api.handler, daraja);
    // Occupancy changes create display commands during ingestion; the decoder queues them for dispatch.
    this.commands.allowEnqueue(this.ingest.decoder);

    this.offlineMeters = new QuantifyFunction(this, 'OfflineMeters', {
      entry: 'functions/jobs/offline-meters.ts',
      description: 'Marks meters offline when they miss their expected uplinks',
      timeout: Duration.minutes(2),
    });
    this.database.grantDataApi(this.offlineMeters);
    this.parkingReservations = new QuantifyFunction(this, 'ParkingReservations', {
      entry: 'functions/jobs/parking-reservations.ts',
      description: 'Starts and ends parking reservations, actuating displays through the command queue',
      timeout: Duration.minutes(2),
    });
    this.database.grantDataApi(this.parkingReservations);
    this.commands.allowEnqueue(this.parkingReservations);
    this.readingsRetention = new QuantifyFunction(this, 'ReadingsRetention', {
      entry: 'functions/jobs/readings-retention.ts',
      description: 'Deletes raw readings past READINGS_RETENTION_DAYS where their rollups cover them',
      timeout: Duration.minutes(10),
    }).setsConfig('READINGS_RETENTION_DAYS', String(config.readingsRetentionDays));
    this.database.grantDataApi(this.readingsRetention);
    this.billing = new QuantifyFunction(this, 'Billing', {
      entry: 'functions/jobs/billing.ts',
      description: 'Bills prepaid meters by tariff into the ledger; queues balance-driven relay commands',
      timeout: Duration.minutes(10),
    });
    this.database.grantDataApi(this.billing);
    this.commands.allowEnqueue(this.billing);
    // Payments reconnect meters (balance control) when they credit an account.
    this.commands.allowEnqueue(this.payments.callbacks);
    this.commands.allowEnqueue(this.payments.jobs);
    this.schedules = new Schedules(this, 'Schedules', {
      jobs: { offline_meters: this.offlineMeters, command_sweeper: this.commands.sweeper, stk_query: this.payments.jobs, daraja_reconcile: this.payments.jobs, parking_reservations: this.parkingReservations, billing: this.billing, readings_retention: this.readingsRetention },
    });

    this.deviceAccess = new DeviceAccess(this, 'DeviceAccess');

    const queueAlarms = [...this.ingest.alarms, this.commands.work.deadLetterAlarm];
    this.observability = new Observability(this, 'Observability', { queues: { ingest: this.ingest.work, commands: this.commands.work }, existingAlarms: queueAlarms });
    this.alarms = [...queueAlarms, ...this.observability.alarms];
    if (config.alarmTopicArn) {
      const topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', config.alarmTopicArn);
      for (const alarm of this.alarms) alarm.addAlarmAction(new SnsAction(topic));
    }

    new CfnOutput(this, 'IngestQueueUrl', { value: this.ingest.work.queue.queueUrl });
    new CfnOutput(this, 'CommandQueueUrl', { value: this.commands.work.queue.queueUrl });
    new CfnOutput(this, 'DbClusterArn', { value: this.database.cluster.clusterArn });
    new CfnOutput(this, 'DbSecretArn', { value: this.database.secret.secretArn });
    new CfnOutput(this, 'ChirpStackApiKeySecretArn', { value: this.commands.chirpstackApiKey.secretArn });
    new CfnOutput(this, 'ChirpStackHttpIntegrationTokenSecretArn', { value: this.ingest.httpIntegrationToken.secretArn });
    new CfnOutput(this, 'DarajaSecretArn', { value: this.payments.secret.secretArn });
  }
}
