// The one Quantify stack: composes the capabilities and wires what crosses between them (who may enqueue
// commands, which function each scheduled job runs, where alarms go). Environment-agnostic and free of
// lookups, so `cdk synth` runs offline with no AWS account.
import { CfnOutput, CfnParameter, Duration, Lazy, Stack, type StackProps } from 'aws-cdk-lib';
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
import { LiveEvents } from './live-events.ts';
import { Observability } from './observability.ts';
import { QuantifyFunction } from './quantify-function.ts';
import { Esp32Presence } from './esp32-presence.ts';
import { Notifications } from './notifications.ts';
import { Payments } from './payments.ts';
import { API_PREFIX, Portal } from './portal.ts';
import { Schedules } from './schedules.ts';
import { stackConfigSchema, type StackConfig } from './stack-config.ts';
import { PORTAL_SCOPES } from './api.ts';

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
  public readonly notifications: Notifications;
  public readonly esp32Presence: Esp32Presence;
  public readonly parkingReservations: QuantifyFunction;
  public readonly alarms: readonly cw.Alarm[];
  public readonly observability: Observability;
  public readonly live: LiveEvents;
  public readonly portal: Portal;

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

    // The app client's callback URL names the portal's distribution, which is made after the API (its CSP
    // and /api behaviour name the API, the hosted UI and the live endpoint): resolved at synth.
    const made: { portal?: Portal } = {};
    const portalUrl = Lazy.string({ produce: () => made.portal?.url ?? '' });
    this.api = new Api(this, 'Api', {
      database: this.database,
      portalUrls: [portalUrl, ...config.portalDevUrls],
      ...(config.cognitoDomainPrefix ? { cognitoDomainPrefix: config.cognitoDomainPrefix } : {}),
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
    this.notifications = new Notifications(this, 'Notifications', {
      database: this.database,
      ...(config.atUsername ? { atUsername: config.atUsername } : {}),
      ...(config.atSenderId ? { atSenderId: config.atSenderId } : {}),
      ...(config.atApiKeySecretArn ? { atApiKeySecret: secretsmanager.Secret.fromSecretCompleteArn(this, 'AfricasTalkingApiKey', config.atApiKeySecretArn) } : {}),
    });
    this.schedules = new Schedules(this, 'Schedules', {
      jobs: {
        offline_meters: this.offlineMeters,
        command_sweeper: this.commands.sweeper,
        stk_query: this.payments.jobs,
        daraja_reconcile: this.payments.jobs,
        parking_reservations: this.parkingReservations,
        billing: this.billing,
        notifications: this.notifications.drain,
        readings_retention: this.readingsRetention,
      },
      billingIntervalMinutes: config.billingIntervalMinutes,
    });

    this.deviceAccess = new DeviceAccess(this, 'DeviceAccess');
    this.esp32Presence = new Esp32Presence(this, 'Esp32Presence', { database: this.database, commands: this.commands });

    // The portal: live updates through AppSync Events, published by every function that changes what it shows.
    this.live = new LiveEvents(this, 'Live', { userPool: this.api.userPool });
    for (const fn of [this.api.handler, this.ingest.decoder, this.commands.dispatcher, this.commands.sweeper, this.payments.callbacks, this.payments.jobs, this.billing, this.offlineMeters, this.parkingReservations]) {
      this.live.allowPublish(fn);
    }
    const cognitoDomainUrl = this.api.userPoolDomain.baseUrl();
    const portal = new Portal(this, 'Portal', {
      apiDomain: `${this.api.httpApi.apiId}.execute-api.${this.region}.${this.urlSuffix}`,
      cognitoDomainUrl,
      liveUrl: this.live.realtimeUrl,
    });
    this.portal = made.portal = portal;
    portal.deploy({
      mode: 'cloud',
      apiBase: API_PREFIX,
      live: { url: this.live.realtimeUrl, host: this.live.api.httpDns },
      cognito: { domain: cognitoDomainUrl, clientId: this.api.userPoolClient.userPoolClientId, scopes: PORTAL_SCOPES },
    });

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
    new CfnOutput(this, 'AfricasTalkingApiKeySecretArn', { value: this.notifications.apiKey.secretArn });
  }
}
