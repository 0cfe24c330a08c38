// The cloud metrics adapter: the app's Metrics port as CloudWatch metrics through Powertools Metrics
// (embedded metric format: JSON log lines CloudWatch turns into metrics, no API call in the request path).
// Namespace Quantify, dimension service=quantify on every metric, plus kind/state/channel where the app
// gives a label (those go out as single-metric lines, each with its own dimension set). The dashboard and
// alarms in lib/observability.ts read these names.
import { Metrics as Powertools, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CounterName, Metrics, ObservationName } from '#app/metrics';

export const METRICS_NAMESPACE = 'Quantify';
export const METRICS_SERVICE = 'quantify';

/** CloudWatch metric names for the port's names (and the dimension a label becomes). */
export const cloudMetricNames: Record<CounterName | ObservationName, { name: string; dimension?: string }> = {
  ingest_messages: { name: 'MessagesIngested', dimension: 'kind' },
  ingest_quarantined: { name: 'QuarantineAdded' },
  commands: { name: 'Commands', dimension: 'state' },
  payments_applied: { name: 'PaymentsApplied', dimension: 'channel' },
  command_dispatch_latency_seconds: { name: 'CommandDispatchLatency' },
};

export interface EmfMetrics extends Metrics {
  /** Writes what was recorded in this invocation; call once at its end. */
  flush(): void;
}

export function emfMetrics(): EmfMetrics {
  const metrics = new Powertools({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });
  return {
    count(name: CounterName, value: number, label?: string) {
      const { name: metric, dimension } = cloudMetricNames[name];
      if (label !== undefined && dimension) {
        const single = metrics.singleMetric();
        single.addDimension(dimension, label);
        single.addMetric(metric, MetricUnit.Count, value);
      } else metrics.addMetric(metric, MetricUnit.Count, value);
    },
    observe(name: ObservationName, value: number) {
      metrics.addMetric(cloudMetricNames[name].name, MetricUnit.Seconds, value);
    },
    flush() {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}

/** A Lambda handler that flushes the metrics at the end of each invocation, whether it succeeded or threw. */
export function withMetrics<A extends unknown[], R>(metrics: EmfMetrics, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await handler(...args);
    } finally {
      metrics.flush();
    }
  };
}
