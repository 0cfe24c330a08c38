// The portal's cloud live events publisher: AppSync Events' HTTP publish (POST /event, {channel, events:
// [JSON strings]}, at most five per request), signed with SigV4 for `appsync`; against a local fake
// endpoint that checks the signature with @smithy/signature-v4 (the SDK's signer, as an independent oracle),
// and known-answer tests of our signer (functions/adapters/sigv4.ts) with the AWS Signature Version 4 test
// suite's `get-vanilla` case (aws-sig-v4-test-suite, docs.aws.amazon.com).
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Checksum, SourceData } from '@smithy/types';
import { appSyncEventsPublisher, LivePublishError } from '#adapters/appsync-events';
import { signV4 } from '#adapters/sigv4';
import type { LiveEvent } from '#app/portal/live-events';

/** SHA-256 (and HMAC-SHA-256 with a secret) from node:crypto, in the shape the SDK's signer asks for. */
class Sha256 implements Checksum {
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh() {
    const secret = this.secret;
    if (secret === undefined) return createHash('sha256');
    return createHmac('sha256', typeof secret === 'string' ? secret : ArrayBuffer.isView(secret) ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength) : Buffer.from(secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const httpDomain = 'abc123.appsync-api.eu-west-1.amazonaws.com';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  verified: boolean;
}
let server: http.Server;
let endpoint: string;
let received: Received[];
let answer: (body: { channel: string; events: string[] }) => { status: number; body: string };

/** What AppSync would check: the same request, signed again at the time it says, has the same signature. */
async function verify(headers: http.IncomingHttpHeaders, body: string): Promise<boolean> {
  const amzDate = String(headers['x-amz-date']);
  const at = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const signer = new SignatureV4({ service: 'appsync', region: 'eu-west-1', credentials, sha256: Sha256 });
  const again = await signer.sign(
    { method: 'POST', protocol: 'https:', hostname: httpDomain, path: '/event', headers: { host: httpDomain, 'content-type': String(headers['content-type']) }, body },
    { signingDate: at },
  );
  return again.headers.authorization === headers.authorization;
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      void verify(req.headers, body).then((verified) => {
        received.push({ headers: req.headers, body, verified });
        const reply = answer(JSON.parse(body) as { channel: string; events: string[] });
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/event`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received = [];
  answer = (body) => ({ status: 200, body: JSON.stringify({ successful: body.events.map((_, index) => ({ identifier: `id-${index}`, index })), failed: [] }) });
});

const command = (n: number): LiveEvent => ({ topic: 'commands', meterId: `m-${n}`, commandId: `c-${n}`, status: 'confirmed', deliveryState: null });
const publisher = () => appSyncEventsPublisher({ httpDomain, region: 'eu-west-1', credentials, endpoint });

describe('AppSync Events publisher', () => {
  it('posts each channel its events as JSON strings, five at most per signed request', async () => {
    // Prepare
    const events = [...Array.from({ length: 7 }, (_, i) => command(i)), { topic: 'meters', meterId: 'm-1' } as LiveEvent];

    // Act
    await publisher().publish(events);

    // Assess
    const bodies = received.map((r) => JSON.parse(r.body) as { channel: string; events: string[] });
    expect(bodies.map((b) => [b.channel, b.events.length])).toEqual([
      ['/quantify/commands', 5],
      ['/quantify/commands', 2],
      ['/quantify/meters', 1],
    ]);
    expect(bodies.flatMap((b) => b.events.map((e) => JSON.parse(e) as LiveEvent))).toEqual(events);
    for (const r of received) {
      expect(r.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/appsync\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
      expect(r.verified).toBe(true);
    }
  });

  it('signs the body: the same signature does not verify another body', async () => {
    // Act
    await publisher().publish([command(1)]);
    const [first] = received;

    // Assess
    expect(first && (await verify(first.headers, first.body.replace('c-1', 'c-2')))).toBe(false);
  });

  it('fails with the reason when AppSync refuses the request or drops events', async () => {
    // Prepare
    answer = () => ({ status: 403, body: '{"errors":[{"errorType":"UnauthorizedException"}]}' });

    // Act / Assess
    await expect(publisher().publish([command(1)])).rejects.toThrow(LivePublishError);
    answer = (body) => ({ status: 200, body: JSON.stringify({ successful: [], failed: body.events.map((_, index) => ({ index, code: 400, message: 'too large' })) }) });
    await expect(publisher().publish([command(1), command(2)])).rejects.toThrow(/did not take 2 of 2 events on \/quantify\/commands/);
  });

  it('publishes nothing for no events', async () => {
    await publisher().publish([]);
    expect(received).toEqual([]);
  });
});

describe('our SigV4 signer (node:crypto)', () => {
  it('gives the AWS SigV4 test suite’s get-vanilla signature', () => {
    // Prepare: get-vanilla.req is "GET / HTTP/1.1", Host example.amazonaws.com, X-Amz-Date 20150830T123600Z.
    // Act
    const headers = signV4({ method: 'GET', host: 'example.amazonaws.com', path: '/' }, { service: 'service', region: 'us-east-1', credentials, at: new Date('2015-08-30T12:36:00Z') });

    // Assess: get-vanilla.authz
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
    expect(headers['x-amz-date']).toBe('20150830T123600Z');
  });

  it('signs a JSON POST with temporary credentials as the SDK’s signer does', async () => {
    // Prepare
    const temporary = { ...credentials, sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE+token/with=chars' };
    const body = JSON.stringify({ channel: '/quantify/commands', events: ['{"topic":"commands"}'] });
    const at = new Date('2026-11-30T22:58:07Z');
    const sdk = new SignatureV4({ service: 'appsync', region: 'eu-west-1', credentials: temporary, sha256: Sha256, applyChecksum: false });

    // Act
    const ours = signV4({ method: 'POST', host: httpDomain, path: '/event', headers: { 'Content-Type': 'application/json' }, body }, { service: 'appsync', region: 'eu-west-1', credentials: temporary, at });
    const theirs = await sdk.sign({ method: 'POST', protocol: 'https:', hostname: httpDomain, path: '/event', headers: { host: httpDomain, 'content-type': 'application/json' }, body }, { signingDate: at });

    // Assess
    expect(ours['x-amz-security-token']).toBe(temporary.sessionToken);
    expect(ours.authorization).toContain('SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,');
    expect(ours.authorization).toBe(theirs.headers.authorization);
  });

  it('refuses a path it would have to encode', () => {
    expect(() => signV4({ method: 'GET', host: 'h', path: '/a b' }, { service: 's', region: 'r', credentials, at: new Date() })).toThrow(/plain absolute paths/);
  });
});
