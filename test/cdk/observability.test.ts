// The observability construct: the dashboard reads the metrics the Lambdas write (names and dimensions
// shared with functions/adapters/emf-metrics.ts), alarms on quarantine spikes and failed commands, and the
// stack sends every alarm (these and the dead-letter ones) to the alarm topic when one is configured.
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { cloudMetricNames, METRICS_NAMESPACE, METRICS_SERVICE } from '#adapters/emf-metrics';
import { logicalIdOf } from '../../lib/nag.ts';
import { APP_METRICS } from '../../lib/observability.ts';
import { QuantifyStack, type QuantifyStackProps } from '../../lib/quantify-stack.ts';

function synth(config: QuantifyStackProps['config'] = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new QuantifyStack(app, 'Quantify', { config });
  return { stack, template: Template.fromStack(stack) };
}

describe('Observability', () => {
  it('reads the metric names and dimensions the Lambdas write', () => {
    expect(APP_METRICS.namespace).toBe(METRICS_NAMESPACE);
    expect(APP_METRICS.service).toBe(METRICS_SERVICE);
    expect(APP_METRICS.messagesIngested).toBe(cloudMetricNames.ingest_messages.name);
    expect(APP_METRICS.quarantineAdded).toBe(cloudMetricNames.ingest_quarantined.name);
    expect(APP_METRICS.commands).toBe(cloudMetricNames.commands.name);
    expect(cloudMetricNames.commands.dimension).toBe('state');
    expect(APP_METRICS.dispatchLatency).toBe(cloudMetricNames.command_dispatch_latency_seconds.name);
    expect(APP_METRICS.paymentsApplied).toBe(cloudMetricNames.payments_applied.name);
  });

  it('alarms on a quarantine spike and on failed commands', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Quantify',
      MetricName: 'QuarantineAdded',
      Dimensions: [{ Name: 'service', Value: 'quantify' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 100,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Quantify',
      MetricName: 'Commands',
      Dimensions: [{ Name: 'service', Value: 'quantify' }, { Name: 'state', Value: 'failed' }],
      Statistic: 'Sum',
      Period: 900,
      Threshold: 5,
    });
  });

  it('draws a dashboard of ingestion, quarantine, commands, payments and the queues with their dead letters', () => {
    const { stack, template } = synth();
    const dashboards = template.findResources('AWS::CloudWatch::Dashboard');
    expect(Object.keys(dashboards)).toEqual([logicalIdOf(stack.observability.dashboard)]);
    const body = JSON.stringify(Object.values(dashboards)[0]!.Properties);
    for (const name of ['MessagesIngested', 'QuarantineAdded', 'Commands', 'CommandDispatchLatency', 'PaymentsApplied', 'ApproximateNumberOfMessagesVisible']) expect(body).toContain(name);
    expect(body).toContain(logicalIdOf(stack.ingest.work.deadLetterQueue));
    expect(body).toContain(logicalIdOf(stack.commands.work.deadLetterQueue));
    // The alarm status widget lists every alarm of the stack.
    for (const alarm of stack.alarms) expect(body).toContain(logicalIdOf(alarm));
  });

  it('sends the new alarms to the alarm topic with the dead-letter ones', () => {
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:quantify-alarms';
    const { stack, template } = synth({ alarmTopicArn: topicArn });
    expect(stack.alarms).toEqual(expect.arrayContaining([stack.observability.quarantineSpikeAlarm, stack.observability.commandsFailedAlarm, stack.commands.work.deadLetterAlarm]));
    const withAction = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmActions: [topicArn] } }));
    expect(withAction).toHaveLength(stack.alarms.length);
  });
});
