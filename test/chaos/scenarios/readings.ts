// Reading scenarios: one fault each over the same kind of traffic (EM300-DI pulse uplinks and ESP32
// consumption reports at QoS 1), so a failure names its fault.
import { sleep } from '../infra.ts';
import { at, moments, readingsRun, shapeFor, type Scenario } from './kit.ts';

const crash = (sig: 'SIGKILL' | 'SIGTERM'): Scenario => ({
  name: sig === 'SIGKILL' ? 'sigkill' : 'sigterm',
  about: `${sig} the platform at random moments while meters publish, then start it again (same MQTT_CLIENT_ID)`,
  run: (ctx) =>
    readingsRun(ctx, shapeFor(ctx, {}), async (span) => {
      const times = moments(ctx.rng, ctx.quick ? 1 : ctx.rng.int(1, 2), span);
      await at(times, async () => {
        const exit = await ctx.platform.signal(sig);
        const down = ctx.rng.int(200, 1500);
        ctx.note(`${sig}: exit ${exit.code ?? exit.signal}, down ${down} ms`);
        await sleep(down);
        await ctx.platform.start();
      });
    }),
});

const dbTerminate: Scenario = {
  name: 'db-terminate',
  about: "terminate the platform's database connections (pg_terminate_backend, or a reset at the proxy) mid-stream",
  run: (ctx) =>
    readingsRun(ctx, shapeFor(ctx, {}), async (span) => {
      await at(moments(ctx.rng, ctx.rng.int(1, 3), span), async () => {
        if (ctx.rng.chance(0.5)) ctx.note(`pg_terminate_backend: ${await ctx.db.terminateBackends()} connections`);
        else {
          ctx.db.proxy.terminateAll();
          ctx.note('proxy: all connections reset');
        }
      });
    }),
};

// Health answers within its own check timeout (DATABASE_HEALTH_TIMEOUT_MS, 3 s by default): wait longer than
// that, or a 503 on its way counts as no answer.
const HEALTH_WAIT_MS = 5_000;

const dbPartition: Scenario = {
  name: 'db-partition',
  about: 'a silent partition to the database (bytes held both ways) for seconds; health must say so; sometimes the hung platform is killed before it heals',
  run: (ctx) =>
    readingsRun(ctx, shapeFor(ctx, {}), async (span) => {
      await at(moments(ctx.rng, 1, span, 0.1, 0.4), async () => {
        const ms = ctx.quick ? ctx.rng.int(3000, 4000) : ctx.rng.int(6000, 9000);
        const killBeforeHeal = ctx.rng.chance(0.5);
        const started = Date.now();
        ctx.db.proxy.partition();
        // Health must report the database down while it is unreachable (checked on partitions of 6 s+).
        let sawDown: number | undefined;
        while (Date.now() - started < ms) {
          const status = await fetch(`${ctx.platform.httpUrl}/health`, { signal: AbortSignal.timeout(HEALTH_WAIT_MS) }).then(
            (r) => r.status,
            () => 0,
          );
          if (status !== 200 && status !== 0 && sawDown === undefined) sawDown = Date.now() - started;
          await sleep(250);
        }
        if (killBeforeHeal) {
          const exit = await ctx.platform.signal('SIGKILL');
          ctx.note(`SIGKILL while partitioned: exit ${exit.code ?? exit.signal}`);
        }
        ctx.db.proxy.heal();
        ctx.note(`partitioned ${ms} ms; health ${sawDown === undefined ? 'never reported it' : `reported it after ${sawDown} ms`}`);
        if (ms >= 6000 && sawDown === undefined) ctx.flag('platform.healthBlindToPartition');
        if (killBeforeHeal) await ctx.platform.start();
      });
    }),
};

const dbDown: Scenario = {
  name: 'db-down',
  about: 'the database goes away (connections reset, new ones refused) for a few seconds, then comes back',
  run: (ctx) =>
    readingsRun(ctx, shapeFor(ctx, {}), async (span) => {
      await at(moments(ctx.rng, 1, span), async () => {
        const ms = ctx.rng.int(1000, ctx.quick ? 2500 : 5000);
        ctx.db.proxy.refuse(true);
        ctx.db.proxy.terminateAll();
        await sleep(ms);
        ctx.db.proxy.refuse(false);
        ctx.note(`database down ${ms} ms`);
      });
    }),
};

const brokerRestart: Scenario = {
  name: 'broker-restart',
  about: 'restart Mosquitto (persistence on) while meters publish',
  run: (ctx) =>
    readingsRun(ctx, shapeFor(ctx, {}), async (span) => {
      await at(moments(ctx.rng, ctx.quick ? 1 : ctx.rng.int(1, 2), span), async () => {
        const down = ctx.rng.int(200, 1500);
        await ctx.broker.restart(down);
        ctx.note(`broker restarted, down ${down} ms`);
      });
    }),
};

const duplicates: Scenario = {
  name: 'duplicates',
  about: '30% of messages published again up to 2 s later (same or new deduplicationId), otherwise in order',
  run: (ctx) => readingsRun(ctx, shapeFor(ctx, { duplicates: 0.3 }), async () => {}),
};

const reorder: Scenario = {
  name: 'reorder',
  about: 'uplinks reordered within and across batches (150-600 ms late), with counter resets and 32-bit wraps',
  run: (ctx) => readingsRun(ctx, shapeFor(ctx, { duplicates: 0.1, reorderNear: 0.15, reorderFar: 0.1, resets: 0.05, wraps: true }), async () => {}),
};

const clocks: Scenario = {
  name: 'far-future',
  about: 'one message per device dated ten years ahead, later counter resets, in order otherwise',
  run: (ctx) => readingsRun(ctx, shapeFor(ctx, { duplicates: 0, farFuture: true, resets: 0.05 }), async () => {}),
};

const poison: Scenario = {
  name: 'poison',
  about: 'ESP32 status reports with text PostgreSQL cannot store (NUL, lone surrogates) among the readings',
  run: (ctx) => readingsRun(ctx, shapeFor(ctx, { duplicates: 0, poison: ctx.rng.int(1, 3) }), async () => {}),
};

export const readingScenarios: Scenario[] = [crash('SIGKILL'), crash('SIGTERM'), dbTerminate, dbPartition, dbDown, brokerRestart, duplicates, reorder, clocks, poison];
