// The command capability: device commands are rows in device_commands (the source of truth) and messages
// on an SQS queue; the dispatcher sends them to ChirpStack (LoRaWAN downlinks) or publishes them over IoT
// Core (ESP32 meters), and the sweeper re-enqueues stuck ones, releases scheduled ones and expires stale ones.
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { esp32CommandTopic } from '#domain/topics';
import type { Database } from './database.ts';
import { QuantifyFunction } from './quantify-function.ts';
import { WorkQueue } from './work-queue.ts';

export interface CommandsProps {
  readonly database: Database;
  /** Account-specific IoT data endpoint host (`xxxx-ats.iot.<region>.amazonaws.com`). */
  readonly iotDataEndpoint: string;
  /** ChirpStack REST API base URL; empty means not configured (LoRaWAN commands then fail visibly). */
  readonly chirpstackApiUrl: string;
  /** An existing secret holding the ChirpStack API key. @default a new secret whose value the operator sets */
  readonly chirpstackApiKeySecret?: secretsmanager.ISecret;
}

/** IoT topic (policy resource syntax) the dispatcher may publish to: every meter's balance command. */
const COMMAND_PUBLISH_TOPIC = esp32CommandTopic('*', 'balance');

export class Commands extends Construct {
  public readonly work: WorkQueue;
  public readonly dispatcher: QuantifyFunction;
  public readonly sweeper: QuantifyFunction;
  public readonly chirpstackApiKey: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: CommandsProps) {
    super(scope, id);

    const dispatcherTimeout = Duration.seconds(30);
    this.work = new WorkQueue(this, 'Commands', {
      consumerTimeout: dispatcherTimeout,
      maxReceiveCount: 5,
      alarmDescription:
        'Device commands failed dispatch 5 times and are parked in the command dead-letter queue; ' +
        'their device_commands rows show the last error',
    });

    this.chirpstackApiKey = props.chirpstackApiKeySecret ?? this.createApiKeySecret();

    this.dispatcher = new QuantifyFunction(this, 'Dispatcher', {
      entry: 'functions/commands/dispatcher.ts',
      description: 'Sends queued device commands to ChirpStack or publishes them to ESP32 meters over IoT Core',
      timeout: dispatcherTimeout,
    })
      .readsSecret(this.chirpstackApiKey, 'CHIRPSTACK_API_KEY_SECRET_ARN')
      .setsConfig('CHIRPSTACK_API_URL', props.chirpstackApiUrl)
      .setsConfig('IOT_DATA_ENDPOINT', props.iotDataEndpoint);
    props.database.grantDataApi(this.dispatcher);
    // Small batches, no batching window: commands are latency-sensitive and each one is an outbound call.
    this.work.consumeWith(this.dispatcher, { batchSize: 10, maxConcurrency: 5 });

    const publishArn = Stack.of(this).formatArn({
      service: 'iot',
      resource: 'topic',
      resourceName: COMMAND_PUBLISH_TOPIC,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    this.dispatcher.addToRolePolicy(new iam.PolicyStatement({ actions: ['iot:Publish'], resources: [publishArn] }));
    Validations.of(this.dispatcher.executionRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/${COMMAND_PUBLISH_TOPIC}]`,
      reason:
        'The dispatcher publishes balance commands to any meter; the wildcard is the meterNo segment only, ' +
        'and the action is iot:Publish on command/balance topics alone.',
    });

    this.sweeper = new QuantifyFunction(this, 'Sweeper', {
      entry: 'functions/commands/sweeper.ts',
      description: 'Re-enqueues stuck commands, releases scheduled ones and expires stale ones',
      // Shorter than the one-minute schedule, so sweeps normally do not overlap. (Not reserved concurrency
      // of 1: new accounts cannot reserve below their unreserved minimum, and sweeps are idempotent anyway.)
      timeout: Duration.seconds(50),
    }).sendsTo(this.work.queue, 'COMMAND_QUEUE_URL');
    props.database.grantDataApi(this.sweeper);
  }

  /** Lets another function enqueue commands (the API): queue URL variable and send permission together. */
  allowEnqueue(fn: QuantifyFunction): void {
    fn.sendsTo(this.work.queue, 'COMMAND_QUEUE_URL');
  }

  private createApiKeySecret(): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, 'ChirpStackApiKey', {
      description: 'ChirpStack API key for downlinks: replace the generated placeholder with a real key after deploy',
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'A ChirpStack API key is issued and revoked in ChirpStack; no rotation Lambda can do that.',
    });
    return secret;
  }
}
