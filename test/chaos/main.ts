// `npm run chaos -- --seed N --runs K [--quick] [--scenario a,b] [--run I] [--keep]`: a seeded fault
// harness in the spirit of TigerBeetle's VOPR. Each run starts its own Mosquitto, a fresh PostgreSQL
// schema behind a loopback proxy, a ChirpStack simulator behind a fault-injecting front and the platform as
// a child process; a scenario chosen by the seed sends traffic while it injects its fault; the invariants
// are then checked from the database. The seed and the run index decide every choice, so
// `--seed N --run I` replays a run. Exits 1 on any loss, doubling or broken invariant.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Rng } from './prng.ts';
import { openDatabase, platformProcess, startChirpStack, startMosquitto } from './infra.ts';
import { line, summary, violationsOf, type RunResult } from './report.ts';
import { commandScenarios } from './scenarios/commands.ts';
import type { RunContext, Scenario } from './scenarios/kit.ts';
import { paymentScenarios } from './scenarios/payments.ts';
import { readingScenarios } from './scenarios/readings.ts';

const all: Scenario[] = [...readingScenarios, ...commandScenarios, ...paymentScenarios];
const RUN_LIMIT_MS = 150_000;

interface Options {
  seed: number;
  runs: number;
  only: number | undefined;
  quick: boolean;
  keep: boolean;
  scenarios: Scenario[];
  databaseUrl: string;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, fallback: number) => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) usage(`${name} needs a non-negative integer`);
    return n;
  };
  if (argv.includes('--help')) usage();
  if (argv.includes('--list')) {
    for (const s of all) console.log(`${s.name.padEnd(18)} ${s.about}`);
    process.exit(0);
  }
  const names = value('--scenario')?.split(',').filter(Boolean);
  const unknown = names?.filter((n) => !all.some((s) => s.name === n)) ?? [];
  if (unknown.length) usage(`unknown scenario(s): ${unknown.join(', ')} (--list shows them)`);
  const only = value('--run') === undefined ? undefined : int('--run', 0);
  return {
    seed: int('--seed', Math.floor(Math.random() * 2 ** 31)),
    runs: only === undefined ? int('--runs', 1) : only + 1,
    only,
    quick: argv.includes('--quick'),
    keep: argv.includes('--keep'),
    scenarios: names ? all.filter((s) => names.includes(s.name)) : all,
    databaseUrl: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  };
}

function usage(problem?: string): never {
  if (problem) console.error(problem);
  console.error('usage: npm run chaos -- [--seed N] [--runs K | --run I] [--quick] [--scenario a,b] [--keep] [--list]');
  process.exit(2);
}

/** Run i's scenario: the seed's permutation of the scenarios, taken in turn (so K >= their number covers all). */
function scenarioOf(options: Options, run: number): Scenario {
  const rng = new Rng(options.seed, 0xffff);
  const order = [...options.scenarios];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order[run % order.length]!;
}

async function runOnce(options: Options, run: number): Promise<RunResult> {
  const scenario = scenarioOf(options, run);
  const rng = new Rng(options.seed, run).fork(scenario.name);
  const tag = `${options.seed}-${run}-${rng.hex(3)}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'quantify-chaos-'));
  const notes: string[] = [];
  const started = Date.now();
  const stops: (() => Promise<unknown>)[] = [];
  let outcome: RunResult['outcome'] = {};
  let error: string | undefined;
  let exits = 0;
  try {
    const broker = await startMosquitto(path.join(dir, 'mosquitto'));
    stops.push(() => broker.stop());
    const db = await openDatabase(options.databaseUrl, `chaos_${tag.replace(/-/g, '_')}`);
    stops.push(() => (options.keep ? Promise.resolve() : db.drop()));
    const chirpstack = await startChirpStack(broker.url, `chaos-cs-${tag}`);
    stops.push(() => chirpstack.stop());
    // Daraja's callbacks come from the harness (the payment scenarios); the built-in simulator never posts
    // an STK callback of its own within a run.
    const callbackToken = `chaos-callback-token-${tag}`.padEnd(40, '0');
    const platform = await platformProcess({
      dataDir: path.join(dir, 'data'),
      logFile: path.join(dir, 'platform.log'),
      env: {
        DATABASE_URL: db.platformUrl,
        MQTT_URL: broker.url,
        MQTT_CLIENT_ID: `quantify-chaos-${tag}`,
        CHIRPSTACK_API_URL: chirpstack.url,
        CHIRPSTACK_API_KEY: chirpstack.apiKey,
        DARAJA_CALLBACK_TOKEN: callbackToken,
        DARAJA_SIMULATOR_STK_DELAY_MS: '600000',
      },
    });
    stops.push(() => platform.stop());
    await platform.start();
    const flags: string[] = [];
    const ctx: RunContext = { rng, quick: options.quick, broker, db, chirpstack, platform, callbackToken, tag, note: (t) => notes.push(t), flag: (v) => flags.push(v) };
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`run over ${RUN_LIMIT_MS / 1000} s`)), RUN_LIMIT_MS);
    });
    try {
      outcome = { ...(await Promise.race([scenario.run(ctx), limit])), flags };
    } finally {
      clearTimeout(timer);
    }
    exits = platform.unexpectedExits.length;
    if (exits) notes.push(`platform died on its own ${exits}x (${platform.unexpectedExits.map((e) => e.code ?? e.signal).join(', ')})`);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
  const violations = violationsOf(outcome, exits);
  const failed = error !== undefined || Object.keys(violations).length > 0;
  if (!failed && !options.keep) await rm(dir, { recursive: true, force: true });
  return { run, scenario: scenario.name, ms: Date.now() - started, outcome, violations, notes, ...(error ? { error } : {}), ...(failed || options.keep ? { dir } : {}) };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  console.log(`chaos: seed ${options.seed}, ${options.only === undefined ? `${options.runs} run(s)` : `run ${options.only}`}${options.quick ? ', quick' : ''}; scenarios: ${options.scenarios.map((s) => s.name).join(', ')}`);
  const results: RunResult[] = [];
  for (let run = options.only ?? 0; run < options.runs; run++) {
    const result = await runOnce(options, run);
    results.push(result);
    console.log(line(options.seed, options.quick, result));
  }
  const report = summary(options.seed, options.quick, results);
  console.log(JSON.stringify(report, null, 2));
  process.exit(report.failedRuns > 0 ? 1 : 0);
}

main().catch((error: unknown) => {
  console.error('chaos harness failed:', error);
  process.exit(2);
});
