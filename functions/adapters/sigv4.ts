// AWS Signature Version 4 for the requests this platform signs itself (the AppSync Events publish: one
// JSON POST), with node:crypto. Written here rather than bundling @smithy/signature-v4 (≈20 KB in every
// function that announces live events, which pushed several past their size budget); checked against the
// AWS SigV4 test suite's vectors and against that library in test/adapters/sigv4.test.ts.
// Algorithm: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
import { createHash, createHmac } from 'node:crypto';

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface SigV4Request {
  method: string;
  host: string;
  /** An absolute path of unreserved characters (no query string). */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** 2015-08-30T12:36:00.000Z → 20150830T123600Z */
export const amzDateOf = (at: Date): string => at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');

/**
 * The request's headers with `x-amz-date`, `x-amz-security-token` (temporary credentials) and the
 * `authorization` header added. Every header given is signed (names lower-cased, values trimmed).
 */
export function signV4(request: SigV4Request, options: { service: string; region: string; credentials: SigV4Credentials; at: Date }): Record<string, string> {
  if (!/^\/[A-Za-z0-9\-._~/]*$/.test(request.path)) throw new Error(`signV4 signs plain absolute paths only, not ${request.path}`);
  const { credentials } = options;
  const amzDate = amzDateOf(options.at);
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
  headers['host'] = request.host;
  headers['x-amz-date'] = amzDate;
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((name) => `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [request.method.toUpperCase(), request.path, '', canonicalHeaders, signedHeaders, sha256Hex(request.body ?? '')].join('\n');
  const scope = `${day}/${options.region}/${options.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), options.region), options.service), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}` };
}
