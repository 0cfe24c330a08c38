// Smoke test: `npm start` as a user runs it, on the embedded defaults (no DATABASE_URL / MQTT_URL):
// it comes up, answers /health, refuses an anonymous MQTT client and accepts a logged-in one, and stops cleanly on Ctrl-C (SIGINT to the process group).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
let child: ChildProcess | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  // Only if the test failed before the platform stopped: then take the whole process group down.
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function waitFor(output: () => string, pattern: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      const m = pattern.exec(output());
      if (m) {
        clearInterval(timer);
        resolve(m);
      } else if (Date.now() - started > ms) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${String(pattern)}; output so far:\n${output()}`));
      }
    }, 100);
  });
}

describe('npm start', () => {
  it('starts on embedded defaults, serves /health and MQTT, and stops cleanly', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'quantify-smoke-'));
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', MQTT_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'WARN' };
    delete env.DATABASE_URL;
    delete env.MQTT_URL;
    let output = '';
    // Its own process group, so Ctrl-C can be sent the way a terminal sends it: to npm and the app alike.
    child = spawn('npm', ['start', '--silent'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    // npm itself ends by the signal (code null) while the app exits 0 after "stopped cleanly".
    const exited = new Promise<string>((resolve) => child?.on('exit', (code, signal) => resolve(signal ?? String(code))));

    const httpUrl = (await waitFor(() => output, /HTTP API\s+(http:\/\/\S+)/, 60_000))[1] ?? '';
    const mqttUrl = (await waitFor(() => output, /MQTT broker\s+(mqtt:\/\/\S+)/, 5_000))[1] ?? '';
    const health = await fetch(`${httpUrl}/health`);
    const anonymous = await mqtt.connectAsync(mqttUrl, { clientId: 'smoke-anon', connectTimeout: 5_000, reconnectPeriod: 0 }).then(
      async (c) => (await c.endAsync(), 'connected'),
      (error: Error) => error.message,
    );
    // The operator tools' login, generated on first start next to the API's signing key.
    const logins = JSON.parse(await readFile(path.join(dataDir, 'mqtt-logins.json'), 'utf8')) as { operator: string };
    const client = await mqtt.connectAsync(mqttUrl, { clientId: 'smoke-test', connectTimeout: 5_000, username: 'quantify.operator', password: logins.operator });
    const connected = client.connected;
    await client.endAsync();
    process.kill(-(child.pid ?? 0), 'SIGINT');
    const code = await exited;

    expect(health.status).toBe(200);
    expect(anonymous).toMatch(/Not authorized/i);
    expect(connected).toBe(true);
    expect(['0', 'SIGINT']).toContain(code);
    expect(output).toMatch(/stopped cleanly/);
  }, 90_000);
});
