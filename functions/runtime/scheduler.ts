// The in-process scheduler: runs the shared scheduled jobs with the same expressions EventBridge uses.
// rate(N unit) becomes an interval; cron(min hour dom mon dow year) is handed to croner without the year.
import { Cron } from 'croner';

export interface ScheduledTask {
  /** No further runs; resolves once a run in progress has finished. */
  stop(): Promise<void>;
}

const rateUnits: Record<string, number> = { minute: 60_000, minutes: 60_000, hour: 3_600_000, hours: 3_600_000, day: 86_400_000, days: 86_400_000 };

export function parseRate(expression: string): number | undefined {
  const m = /^rate\((\d+)\s+(minutes?|hours?|days?)\)$/.exec(expression.trim());
  if (!m) return undefined;
  return Number(m[1]) * (rateUnits[m[2] ?? ''] ?? NaN);
}

/** EventBridge cron (6 fields, with year) to a 5-field expression croner understands. */
export function toCroner(expression: string): string | undefined {
  const m = /^cron\((.+)\)$/.exec(expression.trim());
  if (!m) return undefined;
  const fields = (m[1] ?? '').trim().split(/\s+/);
  if (fields.length !== 6) return undefined;
  return fields.slice(0, 5).join(' ');
}

/**
 * Run `job` on the schedule; a run never overlaps the previous one (a slow run delays the next).
 * Errors are reported, never thrown into the timer.
 */
export function schedule(expression: string, job: () => Promise<void>, onError: (e: unknown) => void): ScheduledTask {
  let running: Promise<void> | undefined;
  const run = () => {
    if (running) return;
    running = job()
      .catch(onError)
      .finally(() => (running = undefined));
  };
  const every = parseRate(expression);
  if (every !== undefined) {
    const timer = setInterval(run, every);
    timer.unref();
    return {
      stop: async () => {
        clearInterval(timer);
        await running;
      },
    };
  }
  const cron = toCroner(expression);
  if (cron === undefined) throw new Error(`unsupported schedule expression: ${expression}`);
  const task = new Cron(cron, { timezone: 'UTC', unref: true }, run);
  return {
    stop: async () => {
      task.stop();
      await running;
    },
  };
}
