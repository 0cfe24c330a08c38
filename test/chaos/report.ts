// One line per run, and the final summary (JSON) with the seed to replay.
import { zeroPayments, type CommandTally, type PaymentTally, type ReadingTally } from './invariants.ts';
import type { Outcome } from './scenarios/kit.ts';

export interface RunResult {
  run: number;
  scenario: string;
  ms: number;
  outcome: Outcome;
  /** Invariants broken, as `name: count`. */
  violations: Record<string, number>;
  notes: string[];
  error?: string;
  /** Kept for inspection (platform.log, mosquitto.log) when the run failed. */
  dir?: string;
}

/** The invariants of an outcome, broken ones only. */
export function violationsOf(outcome: Outcome, unexpectedExits: number): Record<string, number> {
  const v: Record<string, number> = {};
  const add = (name: string, n: number) => {
    if (n > 0) v[name] = (v[name] ?? 0) + n;
  };
  const r = outcome.readings;
  if (r) {
    add('readings.lost', r.lost);
    add('readings.doubled', r.doubled);
    add('readings.wrongValue', r.wrongValue);
    add('readings.stepsDown', r.stepsDown);
    add('readings.wrongFinal', r.wrongFinal);
    add('readings.pinnedClock', r.pinnedClock);
    add('readings.quarantined', r.quarantined);
  }
  const c = outcome.commands;
  if (c) {
    add('commands.doubled', c.doubled);
    add('commands.failedButDelivered', c.failedButDelivered);
    add('commands.cancelledButDelivered', c.cancelledButDelivered);
    add('commands.deliveredNotConfirmed', c.deliveredNotConfirmed);
  }
  const p = outcome.payments;
  if (p) {
    add('payments.lost', p.lost);
    add('payments.doubled', p.doubled);
    add('payments.wrongAccount', p.wrongAccount);
    add('payments.wrongAmount', p.wrongAmount);
    add('payments.balanceMismatch', p.balanceMismatch);
    add('payments.ackedNotRecorded', p.ackedNotRecorded);
    add('payments.ledgerViolations', p.ledgerViolations);
  }
  add('platform.unexpectedExits', unexpectedExits);
  for (const flag of outcome.flags ?? []) add(flag, 1);
  return v;
}

export function line(seed: number, quick: boolean, r: RunResult): string {
  const ok = Object.keys(r.violations).length === 0 && !r.error;
  const parts = [`run ${String(r.run).padStart(3)}`, ok ? 'ok  ' : 'FAIL', r.scenario.padEnd(17), `${(r.ms / 1000).toFixed(1)}s`];
  const rd = r.outcome.readings;
  if (rd) parts.push(`readings pub ${rd.published} ack ${rd.acknowledged} stored ${rd.stored} lost ${rd.lost} doubled ${rd.doubled}`);
  const c = r.outcome.commands;
  if (c) parts.push(`commands req ${c.requested} enq ${c.enqueued} tx ${c.transmitted} conf ${c.confirmed} failed ${c.failed} cancelled ${c.cancelled} open ${c.open} doubled ${c.doubled}`);
  const p = r.outcome.payments;
  if (p) parts.push(`payments sent ${p.sent} sends ${p.sends} dup ${p.duplicated} ack ${p.acknowledged} stored ${p.stored} credited ${p.credited} suspense ${p.suspense} lost ${p.lost} doubled ${p.doubled}`);
  if (!ok) parts.push(`violations ${JSON.stringify(r.violations)}`);
  if (r.error) parts.push(`error: ${r.error}`);
  if (r.notes.length) parts.push(`(${r.notes.join('; ')})`);
  if (!ok) parts.push(`replay: npm run chaos -- --seed ${seed} --run ${r.run}${quick ? ' --quick' : ''}${r.dir ? ` [logs ${r.dir}]` : ''}`);
  return parts.join('  ');
}

const zeroReadings = (): ReadingTally => ({ published: 0, publishes: 0, acknowledged: 0, stored: 0, lost: 0, doubled: 0, wrongValue: 0, stepsDown: 0, wrongFinal: 0, pinnedClock: 0, quarantined: 0 });
const zeroCommands = (): CommandTally => ({ requested: 0, enqueued: 0, transmitted: 0, confirmed: 0, failed: 0, cancelled: 0, open: 0, doubled: 0, failedButDelivered: 0, cancelledButDelivered: 0, deliveredNotConfirmed: 0 });


export function summary(seed: number, quick: boolean, results: RunResult[]) {
  const readings = zeroReadings();
  const commands = zeroCommands();
  const payments = zeroPayments();
  const violations: Record<string, number> = {};
  const scenarios: Record<string, { runs: number; failed: number }> = {};
  for (const r of results) {
    for (const [k, n] of Object.entries(r.outcome.readings ?? {})) readings[k as keyof ReadingTally] += n;
    for (const [k, n] of Object.entries(r.outcome.commands ?? {})) commands[k as keyof CommandTally] += n;
    for (const [k, n] of Object.entries(r.outcome.payments ?? {})) payments[k as keyof PaymentTally] += n;
    for (const [k, n] of Object.entries(r.violations)) violations[k] = (violations[k] ?? 0) + n;
    if (r.error) violations['harness.errors'] = (violations['harness.errors'] ?? 0) + 1;
    const s = (scenarios[r.scenario] ??= { runs: 0, failed: 0 });
    s.runs++;
    if (Object.keys(r.violations).length || r.error) s.failed++;
  }
  const failed = results.filter((r) => Object.keys(r.violations).length || r.error);
  return {
    seed,
    quick,
    runs: results.length,
    failedRuns: failed.length,
    readings,
    commands,
    payments,
    violations,
    scenarios,
    replay: failed.map((r) => ({ run: r.run, scenario: r.scenario, command: `npm run chaos -- --seed ${seed} --run ${r.run}${quick ? ' --quick' : ''}` })),
  };
}
