// The application's operational metrics, as a port: use cases say what happened (messages ingested,
// quarantine additions, command state changes and dispatch latency, payments applied) and an adapter
// records it — Prometheus text at GET /metrics locally (runtime/metrics.ts), CloudWatch EMF through
// Powertools Metrics in the Lambdas (adapters/emf-metrics.ts). Unset, nothing is recorded (noMetrics).

/** Counters; `label` is the kind of message or the command state the count belongs to. */
export type CounterName = 'ingest_messages' | 'ingest_quarantined' | 'commands' | 'payments_applied';
/** Observations (a histogram locally, a plain metric in CloudWatch). */
export type ObservationName = 'command_dispatch_latency_seconds';

export interface Metrics {
  count(name: CounterName, value: number, label?: string): void;
  observe(name: ObservationName, value: number): void;
}

export const noMetrics: Metrics = { count: () => undefined, observe: () => undefined };
