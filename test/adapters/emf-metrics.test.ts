// The cloud metrics adapter writes CloudWatch embedded-metric-format lines with the names and dimensions
// the dashboard and alarms (lib/observability.ts) read.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emfMetrics, withMetrics } from '#adapters/emf-metrics';

afterEach(() => vi.restoreAllMocks());

function captured(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls
    .map((c) => String(c[0]))
    .flatMap((s) => s.split('\n'))
    .filter((s) => s.startsWith('{') && s.includes('_aws'))
    .map((s) => JSON.parse(s) as Record<string, unknown>);
}

describe('emfMetrics', () => {
  it('writes labelled counts with their dimension and the rest at flush, under Quantify/service=quantify', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const metrics = emfMetrics();
    const handler = withMetrics(metrics, async () => {
      metrics.count('commands', 2, 'failed');
      metrics.count('ingest_quarantined', 3);
      metrics.observe('command_dispatch_latency_seconds', 1.5);
      return 'ok';
    });

    expect(await handler()).toBe('ok');

    const lines = captured(out);
    const failed = lines.find((l) => l.Commands !== undefined);
    expect(failed).toMatchObject({ Commands: 2, state: 'failed', service: 'quantify' });
    expect(JSON.stringify(failed)).toContain('"Namespace":"Quantify"');
    const flushed = lines.find((l) => l.QuarantineAdded !== undefined);
    expect(flushed).toMatchObject({ QuarantineAdded: 3, CommandDispatchLatency: 1.5, service: 'quantify' });
  });

  it('flushes when the handler throws', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const metrics = emfMetrics();
    const handler = withMetrics(metrics, async () => {
      metrics.count('payments_applied', 1);
      throw new Error('boom');
    });
    await expect(handler()).rejects.toThrow('boom');
    expect(captured(out).find((l) => l.PaymentsApplied !== undefined)).toMatchObject({ PaymentsApplied: 1 });
  });
});
