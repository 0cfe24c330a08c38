// The API described: an OpenAPI 3.1 document generated from the route table itself (the routes' zod
// schemas through zod's own JSON Schema export, their roles, their error responses), so a route module
// added to the table is described without a second list to keep in step; and a plain HTML rendering of
// it for /docs (no script, no CDN).
import * as z from 'zod';
import type { AnyRouteSpec } from './kit.ts';

type JsonSchema = Record<string, unknown>;
/** What the description reads of a route (not its handler). */
type Described = Pick<AnyRouteSpec<unknown>, 'method' | 'path' | 'access' | 'body' | 'query' | 'params' | 'summary' | 'successStatus' | 'errors' | 'responseType' | 'textBody'>;

export interface ApiInfo {
  title: string;
  version: string;
  description?: string;
}

const problemTitles: Readonly<Record<number, string>> = {
  400: 'Invalid request: the body, query or path did not validate (errors[] names each field)',
  401: 'Authentication required: no valid bearer token',
  403: 'Forbidden: the token has none of the roles this route takes',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Payload too large',
  415: 'Unsupported media type: send the body as application/json',
  500: 'Internal error (logged; no internals in the answer)',
  503: 'Service unavailable: the database (or another dependency) did not answer; retry',
};

/** Client and server errors a route can answer, from its shape and what it declares. */
export function errorStatuses(route: Described): number[] {
  const statuses = new Set<number>([400, 500, 503]);
  if (route.access !== 'public') {
    statuses.add(401);
    statuses.add(403);
  }
  if (route.path.includes('{')) statuses.add(404);
  if (route.body) {
    statuses.add(413);
    statuses.add(415);
  }
  for (const s of route.errors ?? []) statuses.add(s);
  return [...statuses].sort((a, b) => a - b);
}

/** A zod schema as JSON Schema 2020-12 (what OpenAPI 3.1 uses), describing what a client sends. */
function inputSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const json = inputSchema(schema);
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }));
}

const operationId = (route: Described) =>
  route.method.toLowerCase() +
  route.path
    .split('/')
    .filter(Boolean)
    .map((part) => part.replace(/[{}]/g, '').replace(/(^|[^A-Za-z0-9])([A-Za-z0-9])/g, (_m, _s, c: string) => c.toUpperCase()))
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

const tagOf = (path: string) => path.split('/').filter(Boolean)[0] ?? 'api';

function operation(route: Described): JsonSchema {
  const roles = route.access === 'public' ? [] : [...route.access];
  const success = route.successStatus ?? 200;
  const responses: Record<string, unknown> = {
    [String(success)]: {
      description: route.summary ?? 'Success',
      content: { [route.responseType ?? 'application/json']: { schema: route.responseType === 'text/html' ? { type: 'string' } : { type: 'object' } } },
    },
  };
  for (const status of errorStatuses(route)) responses[String(status)] = { $ref: `#/components/responses/Problem${status}` };
  return {
    operationId: operationId(route),
    tags: [tagOf(route.path)],
    summary: route.summary ?? `${route.method} ${route.path}`,
    description: route.access === 'public' ? 'Public: no token needed.' : `Roles: ${roles.join(', ')}.`,
    'x-roles': route.access === 'public' ? 'public' : roles,
    security: route.access === 'public' ? [] : [{ bearerAuth: [] }],
    parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
    ...(route.body ? { requestBody: { required: true, content: { [route.textBody?.mediaType ?? 'application/json']: { schema: inputSchema(route.body) } } } } : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of these routes. */
export function openApiDocument(routes: readonly Described[], info: ApiInfo): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operation(route);
  }
  const statuses = [...new Set(routes.flatMap(errorStatuses))].sort((a, b) => a - b);
  return {
    openapi: '3.1.0',
    info,
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Cognito (cloud) or local (npm run token) JWT; roles are its cognito:groups, or for the collector client-credentials access token its scope quantify/readings.write (the collector role)' },
      },
      schemas: {
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details',
          required: ['type', 'title', 'status'],
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            instance: { type: 'string' },
            errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } }, required: ['path', 'message'] } },
          },
        },
      },
      responses: Object.fromEntries(
        statuses.map((s) => [`Problem${s}`, { description: problemTitles[s] ?? `Error ${s}`, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } }]),
      ),
    },
  };
}

// ---- /docs ----

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** The routes as one HTML page: per path and method, summary, roles, parameters, body schema, errors. */
export function docsPage(routes: readonly Described[], info: ApiInfo): string {
  const sorted = [...routes].sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
  const index = sorted.map((r) => `<li><a href="#${operationId(r)}"><code>${r.method} ${escapeHtml(r.path)}</code></a> ${escapeHtml(r.summary ?? '')}</li>`).join('\n');
  const sections = sorted
    .map((r) => {
      const params = [...parameters(r.params, 'path'), ...parameters(r.query, 'query')];
      const rows = params
        .map((p) => `<tr><td><code>${escapeHtml(String(p.name))}</code></td><td>${String(p.in)}</td><td>${p.required ? 'yes' : ''}</td><td><code>${escapeHtml(JSON.stringify(p.schema))}</code></td></tr>`)
        .join('');
      const roles = r.access === 'public' ? 'public' : r.access.join(', ');
      return [
        `<section id="${operationId(r)}"><h2><code>${r.method} ${escapeHtml(r.path)}</code></h2>`,
        `<p>${escapeHtml(r.summary ?? '')}</p><p><b>Roles:</b> ${escapeHtml(roles)} · <b>Success:</b> ${r.successStatus ?? 200} · <b>Errors:</b> ${errorStatuses(r).join(', ')}</p>`,
        rows ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>${rows}</table>` : '',
        r.body ? `<details><summary>Request body (${escapeHtml(r.textBody?.mediaType ?? 'application/json')})</summary><pre>${escapeHtml(JSON.stringify(inputSchema(r.body), null, 2))}</pre></details>` : '',
        '</section>',
      ].join('\n');
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)} API</title>
<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}code{font-size:.9em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}
section{border-top:1px solid #ddd;margin-top:1.5rem}pre{background:#f6f6f6;padding:.5rem;overflow:auto}</style></head>
<body><h1>${escapeHtml(info.title)} API ${escapeHtml(info.version)}</h1>
<p>${escapeHtml(info.description ?? '')} Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Errors are RFC 9457 <code>application/problem+json</code>.</p>
<ul>
${index}
</ul>
${sections}
</body></html>`;
}
