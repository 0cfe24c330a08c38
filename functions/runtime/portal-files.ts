// The operator portal's static files (the Vite build in web/dist), served by the local HTTP server at
// `/` beside the API, without a token: they hold no data, and every call they make goes to the API with
// the operator's bearer token. Only `/` and `/assets/<name>` are served, so no API path is ever shadowed
// (the portal routes with the URL's hash). In the cloud CloudFront serves the same files from S3.
// `/config.json` tells the page where the API and the live channel are: here, on this origin (in the cloud
// the stack writes its own beside the assets: lib/portal.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type http from 'node:http';
import { LIVE_PATH } from './live-events.ts';

/** The local platform's /config.json (web/src/config.ts reads it): the API and the live channel on this origin. */
export const localPortalConfig = { mode: 'local', apiBase: '', live: { url: LIVE_PATH } } as const;

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.json': 'application/json',
};

/**
 * Everything the page loads comes from this origin (no CDN): scripts and styles from /assets, calls to the
 * API and its live channel on the same host. The browser test relies on this to prove it.
 */
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

const assetName = /^\/assets\/([A-Za-z0-9_.-]+)$/;

/** The file a portal path names, or undefined when the path is not the portal's. */
function portalFile(pathname: string): { file: string; immutable: boolean } | undefined {
  if (pathname === '/' || pathname === '/index.html') return { file: 'index.html', immutable: false };
  if (pathname === '/config.json') return { file: 'config.json', immutable: false };
  const asset = assetName.exec(pathname)?.[1];
  if (asset && !asset.startsWith('.')) return { file: path.join('assets', asset), immutable: true };
  return undefined;
}

export function isPortalRequest(method: string, pathname: string): boolean {
  return (method === 'GET' || method === 'HEAD') && portalFile(pathname) !== undefined;
}

/** Answers a request for which isPortalRequest() is true. */
export async function servePortal(req: http.IncomingMessage, res: http.ServerResponse, dir: string, pathname: string): Promise<void> {
  const target = portalFile(pathname);
  if (!target) throw new Error(`not a portal path: ${pathname}`);
  let body: Buffer;
  try {
    body = target.file === 'config.json' ? Buffer.from(JSON.stringify(localPortalConfig)) : await readFile(path.join(dir, target.file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (target.file === 'index.html') {
      // Started without the build (e.g. `tsx functions/runtime/main.ts` instead of `npm start`).
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`The operator portal is not built (${dir} has no index.html): run npm run build:web, or start with npm start.\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
    return;
  }
  res.writeHead(200, {
    'content-type': types[path.extname(target.file)] ?? 'application/octet-stream',
    'content-length': body.length,
    // Vite names assets by content hash; the page itself is looked at again on every load.
    'cache-control': target.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'content-security-policy': contentSecurityPolicy,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
