// The fault-test proxy itself, against a loopback echo server: forwards, partitions silently, heals,
// terminates and refuses.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

let echo: net.Server;
let proxy: TcpProxy;

beforeAll(async () => {
  echo = net.createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  proxy = await startTcpProxy({ host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
});
afterAll(async () => {
  await proxy.close();
  await new Promise((resolve) => echo.close(resolve));
});

async function connect(): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

function nextData(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.once('close', () => resolve());
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('tcp proxy', () => {
  it('rewrites the host and port of a URL to the proxy', () => {
    const url = proxy.url('postgres://postgres@db.example:5432/test?options=-c%20x%3D1');

    expect(url).toBe(`postgres://postgres@127.0.0.1:${proxy.port}/test?options=-c%20x%3D1`);
  });

  it('forwards bytes both ways', async () => {
    const socket = await connect();

    socket.write('hello');
    const echoed = await nextData(socket);

    expect(echoed).toBe('hello');
    socket.destroy();
  });

  it('holds bytes during a partition and delivers them after heal', async () => {
    const socket = await connect();
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    proxy.partition();

    socket.write('held');
    await sleep(200);
    const duringPartition = received;
    proxy.heal();
    for (let i = 0; i < 100 && received !== 'held'; i++) await sleep(20);

    expect(duringPartition).toBe('');
    expect(received).toBe('held');
    socket.destroy();
  });

  it('destroys every open connection on terminateAll', async () => {
    const socket = await connect();
    socket.on('error', () => undefined);

    proxy.terminateAll();

    await closed(socket);
    expect(socket.destroyed).toBe(true);
  });

  it('refuses new connections while refusing, and accepts again afterwards', async () => {
    proxy.refuse(true);
    const refused = net.connect({ host: '127.0.0.1', port: proxy.port });
    refused.on('error', () => undefined);
    await closed(refused);
    proxy.refuse(false);

    const socket = await connect();
    socket.write('back');
    const echoed = await nextData(socket);

    expect(echoed).toBe('back');
    socket.destroy();
  });
});
