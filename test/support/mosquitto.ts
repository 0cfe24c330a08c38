// A private Mosquitto for tests and the fault harness: its own free loopback port and config in a temp
// directory, so a test controls the broker (restarts it, kills the platform in front of it) whatever
// broker the suite itself runs against.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';

/** The mosquitto binary: on PATH, or in the sbin folders Debian and Homebrew install it to. */
export const mosquittoBinary = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/opt/homebrew/sbin']
  .map((dir) => path.join(dir, 'mosquitto'))
  .find((file) => existsSync(file));

/**
 * A port a server can listen on now and again after a restart: chosen below Linux's ephemeral range
 * (32768-60999), because a port the kernel hands out for port 0 can meanwhile become the local port of
 * some outbound connection, and the restarted broker or platform then fails with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port found in 20000-31999 after 50 tries');
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

export interface Broker {
  url: string;
  /** SIGTERM (Mosquitto saves its persistence file), then start again on the same port and file. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /** Keep queued messages in `dir` across a restart of the broker itself. @default false */
  persistence?: boolean;
  /** Log to `dir`/mosquitto.log (otherwise nowhere). @default false */
  log?: boolean;
  /** Logins and ACL (e.g. from `npm run mqtt:export-mosquitto`): anonymous clients are then refused. */
  access?: { passwordFile: string; aclFile: string };
}

/** Start Mosquitto with its config and files in `dir`; resolves once it listens. */
export async function startMosquitto(dir: string, options: MosquittoOptions = {}): Promise<Broker> {
  if (!mosquittoBinary) throw new Error('no mosquitto binary (on PATH or in /usr/sbin)');
  const binary = mosquittoBinary;
  const port = await freePort();
  await mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      ...(options.access ? ['allow_anonymous false', `password_file ${options.access.passwordFile}`, `acl_file ${options.access.aclFile}`] : ['allow_anonymous true']),
      // Started as root, Mosquitto would switch to the mosquitto user, which cannot write in our temp dir.
      `user ${userInfo().username}`,
      ...(options.persistence ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 1'] : ['persistence false']),
      // A persistent session keeps every QoS 1 message published while its client is away.
      'max_queued_messages 0',
      'max_queued_bytes 0',
      options.log ? `log_dest file ${path.join(dir, 'mosquitto.log')}` : 'log_dest none',
    ].join('\n') + '\n',
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(binary, ['-c', conf], { stdio: 'ignore' });
    const until = Date.now() + 10_000;
    while (!(await portOpen(port))) {
      if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    restart: async (downMs) => {
      await stop();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    stop,
  };
}
