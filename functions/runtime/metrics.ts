// The local metrics adapter: the app's Metrics port kept in a prom-client registry and served at
// GET /metrics in Prometheus text format (the local HTTP server asks a bearer token of any role, as the
// API does). Meters by communication status are a gauge read from the store at each scrape.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CounterName, Metrics, ObservationName } from '#app/metrics';
import type { Db } from '#store/db';
import { meterCountsByStatus } from '#store/meters';

export interface PrometheusMetrics extends Metrics {
  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

export function prometheusMetrics(db: Db): PrometheusMetrics {
  const registry = new Registry();
  const counters: Record<CounterName, Counter<string>> = {
    ingest_messages: new Counter({ name: 'quantify_ingest_messages_total', help: 'Messages ingested (committed), by kind: uplink, join, status, txack, ack, ..., esp32, unparsed', labelNames: ['kind'], registers: [registry] }),
    ingest_quarantined: new Counter({ name: 'quantify_ingest_quarantined_total', help: 'Messages added to the quarantine', labelNames: [], registers: [registry] }),
    commands: new Counter({ name: 'quantify_commands_total', help: 'Command state transitions: sent, retry, unknown, failed by dispatch; confirmed, failed by device feedback', labelNames: ['state'], registers: [registry] }),
    payments_applied: new Counter({ name: 'quantify_payments_applied_total', help: 'Payments applied to an account, by channel (stk, c2b, pull, manual)', labelNames: ['channel'], registers: [registry] }),
  };
  const observations: Record<ObservationName, Histogram<string>> = {
    command_dispatch_latency_seconds: new Histogram({
      name: 'quantify_command_dispatch_latency_seconds',
      help: 'From a command being created to its being sent',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'quantify_meters',
    help: 'Meters by communication status (online: heard from within its expected interval)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [status, n] of Object.entries(await meterCountsByStatus(db))) this.set({ status }, n);
    },
  });
  return {
    count(name, value, label) {
      const counter = counters[name];
      if (label === undefined) counter.inc(value);
      else counter.inc({ [name === 'ingest_messages' ? 'kind' : name === 'commands' ? 'state' : 'channel']: label }, value);
    },
    observe(name, value) {
      observations[name].observe(value);
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
