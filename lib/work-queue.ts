// An SQS work queue the way Quantify needs every one: encrypted, TLS-only, a dead-letter queue after a
// bounded number of receives, an alarm as soon as anything lands there, a visibility timeout long enough
// that a message is never handed to a second consumer while the first is still working on it, and a
// consumer that reports partial batch failures (so one bad record does not replay its whole batch).
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** AWS guidance: visibility timeout at least six times the consumer's timeout (retries and batching window). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export interface WorkQueueProps {
  /** Timeout of the Lambda that will consume the queue; the visibility timeout is sized from it. */
  readonly consumerTimeout: Duration;
  /** Receives before a message moves to the dead-letter queue. @default 5 */
  readonly maxReceiveCount?: number;
  /** What the dead-letter alarm tells whoever receives it. */
  readonly alarmDescription: string;
}

export interface ConsumerOptions {
  readonly batchSize: number;
  /** Required by SQS for batches above 10. @default none */
  readonly maxBatchingWindow?: Duration;
  /** Upper bound on concurrent consumers, to protect the database from a backlog burst. @default none */
  readonly maxConcurrency?: number;
}

export class WorkQueue extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  private readonly consumerTimeout: Duration;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    this.consumerTimeout = props.consumerTimeout;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: a dead letter is evidence, and someone has to look at it.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: props.alarmDescription,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** Makes `fn` the queue's consumer: batches, partial batch failures reported, timeout checked. */
  consumeWith(fn: lambda.Function, options: ConsumerOptions): void {
    const timeout = fn.timeout ?? Duration.seconds(3);
    if (timeout.toSeconds() > this.consumerTimeout.toSeconds()) {
      throw new Error(
        `${fn.node.path} times out after ${timeout.toSeconds()} s, but ${this.node.path} was sized for ` +
          `${this.consumerTimeout.toSeconds()} s: messages would reappear while still being processed`,
      );
    }
    fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: options.batchSize,
        maxBatchingWindow: options.maxBatchingWindow,
        maxConcurrency: options.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }
}
