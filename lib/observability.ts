// Operability in the cloud: a CloudWatch dashboard of the application's metrics (written by the Lambdas as
// embedded metric format through Powertools Metrics: functions/adapters/emf-metrics.ts, namespace Quantify,
// dimension service=quantify) beside the work queues' depths, and alarms on the signals of trouble:
// a spike of quarantine additions and commands failing. The dead-letter alarms live with their queues
// (lib/work-queue.ts) and are shown here too.
import { Duration } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { WorkQueue } from './work-queue.ts';

/** Must match functions/adapters/emf-metrics.ts (test/cdk/observability.test.ts checks). */
export const APP_METRICS = {
  namespace: 'Quantify',
  service: 'quantify',
  messagesIngested: 'MessagesIngested',
  quarantineAdded: 'QuarantineAdded',
  commands: 'Commands',
  dispatchLatency: 'CommandDispatchLatency',
  paymentsApplied: 'PaymentsApplied',
} as const;

export interface ObservabilityProps {
  /** The work queues whose depth and dead letters are shown. */
  queues: Record<string, WorkQueue>;
  /** Alarms defined elsewhere (the dead-letter alarms, the IoT rule errors), shown on the dashboard. */
  existingAlarms: readonly cw.Alarm[];
  /** Quarantine additions in 5 minutes that raise the alarm. @default 100 */
  quarantineSpikeThreshold?: number;
  /** Commands failed in 15 minutes that raise the alarm. @default 5 */
  commandsFailedThreshold?: number;
}

export class Observability extends Construct {
  public readonly dashboard: cw.Dashboard;
  public readonly quarantineSpikeAlarm: cw.Alarm;
  public readonly commandsFailedAlarm: cw.Alarm;
  /** The alarms this construct adds. */
  public readonly alarms: readonly cw.Alarm[];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const metric = (metricName: string, dimensions: Record<string, string> = {}, options: cw.MetricOptions = {}) =>
      new cw.Metric({ namespace: APP_METRICS.namespace, metricName, dimensionsMap: { service: APP_METRICS.service, ...dimensions }, statistic: cw.Stats.SUM, period: Duration.minutes(5), ...options });
    const byLabel = (metricName: string, dimension: string, labels: readonly string[]) => labels.map((label) => metric(metricName, { [dimension]: label }, { label }));

    const quarantine = metric(APP_METRICS.quarantineAdded);
    this.quarantineSpikeAlarm = new cw.Alarm(this, 'QuarantineSpikeAlarm', {
      alarmDescription: 'Many messages quarantined: a decoder, a device profile or a sender is wrong (GET /quarantine says why)',
      metric: quarantine,
      threshold: props.quarantineSpikeThreshold ?? 100,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    const failed = metric(APP_METRICS.commands, { state: 'failed' }, { period: Duration.minutes(15) });
    this.commandsFailedAlarm = new cw.Alarm(this, 'CommandsFailedAlarm', {
      alarmDescription: 'Device commands failing (ChirpStack unreachable, devices NACKing or not answering): the failed commands say why',
      metric: failed,
      threshold: props.commandsFailedThreshold ?? 5,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    this.alarms = [this.quarantineSpikeAlarm, this.commandsFailedAlarm];

    const queues = Object.entries(props.queues);
    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          new cw.GraphWidget({ title: 'Messages ingested (per 5 min)', width: 12, left: byLabel(APP_METRICS.messagesIngested, 'kind', ['uplink', 'esp32', 'join', 'status', 'txack', 'ack', 'unparsed']), stacked: true }),
          new cw.GraphWidget({ title: 'Quarantine additions', width: 12, left: [quarantine], leftAnnotations: [{ value: props.quarantineSpikeThreshold ?? 100, label: 'alarm' }] }),
        ],
        [
          new cw.GraphWidget({ title: 'Commands by state', width: 12, left: byLabel(APP_METRICS.commands, 'state', ['sent', 'confirmed', 'retry', 'unknown', 'failed']) }),
          new cw.GraphWidget({
            title: 'Command dispatch latency (s)',
            width: 12,
            left: [metric(APP_METRICS.dispatchLatency, {}, { statistic: cw.Stats.p(50), label: 'p50' }), metric(APP_METRICS.dispatchLatency, {}, { statistic: cw.Stats.p(95), label: 'p95' })],
          }),
        ],
        [
          new cw.GraphWidget({ title: 'Payments applied', width: 12, left: byLabel(APP_METRICS.paymentsApplied, 'channel', ['stk', 'c2b', 'pull', 'manual']) }),
          new cw.GraphWidget({
            title: 'Queue depth and dead letters',
            width: 12,
            left: queues.map(([name, q]) => q.queue.metricApproximateNumberOfMessagesVisible({ label: name, statistic: cw.Stats.MAXIMUM, period: Duration.minutes(1) })),
            right: queues.map(([name, q]) => q.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: `${name} DLQ`, statistic: cw.Stats.MAXIMUM, period: Duration.minutes(1) })),
          }),
        ],
        [new cw.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: [...props.existingAlarms, ...this.alarms] })],
      ],
    });
  }
}
