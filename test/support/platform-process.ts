// The platform as a child process, `node --import tsx functions/runtime/main.ts` (what `npm start` runs,
// without npm and tsx's signal relay in between, so a signal reaches exactly the platform process).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export interface PlatformProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the first match of pattern in the output so far (bounded polling). */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<string>;
  /** SIGKILL if it still runs (cleanup). */
  kill(): void;
}

export function spawnPlatform(env: Record<string, string>): PlatformProcess {
  const full: NodeJS.ProcessEnv = { ...process.env, PORT: '0', MQTT_PORT: '0', LOG_LEVEL: 'WARN', ...env };
  // Only what the test asks for: not the DATABASE_URL / MQTT_URL the suite runs with.
  for (const name of ['DATABASE_URL', 'MQTT_URL', 'MQTT_CLIENT_ID']) if (!(name in env)) delete full[name];
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/runtime/main.ts'], { cwd: root, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? String(code))));
  return {
    child,
    pid: child.pid ?? 0,
    output: () => output,
    waitFor: (pattern, ms = 90_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now();
        const timer = setInterval(() => {
          const m = pattern.exec(output);
          if (m) {
            clearInterval(timer);
            resolve(m);
          } else if (Date.now() - started > ms || (child.exitCode !== null && !pattern.exec(output))) {
            clearInterval(timer);
            reject(new Error(`waiting for ${String(pattern)}: ${child.exitCode !== null ? `exited ${child.exitCode}` : 'timed out'}; output so far:\n${output}`));
          }
        }, 100);
      }),
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
