// The API described: /openapi.json is generated from the route table, so every route (a module added
// later included) appears with its roles, parameters, body and error responses; /docs renders the same.
import * as z from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, createApiHandler } from '#app/api/index';
import type { AppDeps } from '#app/deps';
import { defineRoute, type AnyRouteSpec } from '#app/http/kit';
import { errorStatuses } from '#app/http/openapi';
import { logger } from '#shared/logger';
import { apiEvent, lambdaContext, parseResult } from '../support/api.ts';

interface Operation {
  operationId: string;
  'x-roles': string[] | 'public';
  security: unknown[];
  parameters: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, unknown>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, unknown> };
}

// A route module added to the table, as another area's would be.
const extraRoute = defineRoute<undefined, { since?: string }, { id: string }, AppDeps>({
  method: 'GET',
  path: '/widgets/{id}/history',
  access: ['admin'],
  params: z.strictObject({ id: z.uuid() }),
  query: z.strictObject({ since: z.string().optional() }),
  summary: 'A widget history',
  errors: [409],
  handle: async () => ({ status: 200, body: {} }),
});

let routes: AnyRouteSpec<AppDeps>[];
let doc: Document;
let docsHtml: string;
let docsType: string | undefined;

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  routes = apiRoutes([extraRoute]);
  const deps = { db: undefined as never, logger, now: () => new Date(), healthChecks: {}, ingest: async () => ({}) as never, commandQueue: { enqueue: async () => undefined } } as unknown as AppDeps;
  const handler = createApiHandler(deps, routes);
  const json = parseResult(await handler(apiEvent({ method: 'GET', path: '/openapi.json', role: 'none' }), lambdaContext));
  expect(json.status).toBe(200);
  doc = json.body as unknown as Document;
  const docs = (await handler(apiEvent({ method: 'GET', path: '/docs', role: 'none' }), lambdaContext)) as { statusCode: number; body: string; headers: Record<string, string> };
  expect(docs.statusCode).toBe(200);
  docsHtml = docs.body;
  docsType = docs.headers['content-type'];
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document, public', () => {
    expect(doc.openapi).toBe('3.1.0');
  });

  it('describes every route in the route table, a module added to it included, with its roles', () => {
    for (const route of routes) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      expect(op!['x-roles']).toEqual(route.access === 'public' ? 'public' : [...route.access]);
      expect(op!.security).toEqual(route.access === 'public' ? [] : [{ bearerAuth: [] }]);
    }
    const operations = Object.values(doc.paths).flatMap((p) => Object.keys(p));
    expect(operations).toHaveLength(routes.length);
    expect(doc.paths['/widgets/{id}/history']?.get?.['x-roles']).toEqual(['admin']);
  });

  it('gives every route its error responses: 400 always, 401/403 unless public, 404 with a path id, 413/415 with a body, and those it declares', () => {
    for (const route of routes) {
      const op = doc.paths[route.path]![route.method.toLowerCase()]!;
      const statuses = errorStatuses(route);
      for (const s of statuses) expect(op.responses[String(s)], `${route.method} ${route.path} ${s}`).toEqual({ $ref: `#/components/responses/Problem${s}` });
      expect(statuses).toContain(400);
      if (route.access !== 'public') expect(statuses).toEqual(expect.arrayContaining([401, 403]));
      if (route.path.includes('{')) expect(statuses).toContain(404);
      if (route.body) expect(statuses).toEqual(expect.arrayContaining([413, 415]));
    }
    expect(Object.keys(doc.paths['/widgets/{id}/history']!.get!.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404', '409']));
    for (const ref of Object.values(doc.paths).flatMap((p) => Object.values(p).flatMap((op) => Object.values(op.responses)))) {
      const name = (ref as { $ref?: string }).$ref?.split('/').pop();
      if (name) expect(doc.components.responses[name]).toBeDefined();
    }
  });

  it("describes parameters and bodies from the routes' zod schemas", () => {
    const meters = doc.paths['/meters']!.get!;
    const patch = doc.paths['/devices/{id}']!.patch!;
    const relay = doc.paths['/meters/{id}/relay']!.post!;

    expect(meters.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['limit', 'offset', 'meterNo', 'serialNumber', 'siteId', 'accountId', 'communicationStatus', 'relayState']));
    expect(meters.parameters.find((p) => p.name === 'relayState')).toMatchObject({ in: 'query', required: false, schema: { enum: ['on', 'off', 'unknown'] } });
    expect(patch.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })]);
    expect(patch.requestBody?.content['application/json']?.schema).toMatchObject({ type: 'object', additionalProperties: false, properties: { lifecycle: { enum: ['installed', 'active', 'decommissioned'] } } });
    expect(relay.requestBody?.content['application/json']?.schema).toMatchObject({ required: expect.arrayContaining(['action', 'reason']) as string[] });
    expect(relay.responses['202']).toBeDefined();
  });
});

describe('GET /docs', () => {
  it('is an HTML page listing every route with its roles', () => {
    expect(docsType).toMatch(/^text\/html/);
    for (const route of routes) expect(docsHtml).toContain(`<code>${route.method} ${route.path}</code>`);
    expect(docsHtml).toContain('<b>Roles:</b> admin, operator');
    expect(docsHtml).not.toMatch(/<script/i);
  });
});
