// HTTP routes for device commands: relay on/off for one meter or many, command history, one command,
// cancellation. Switching a relay takes an operator or admin; reading takes any role.
import { z } from 'zod';
import { commandStatuses } from '#domain/commands';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { pagingQuery } from '../http/paging.ts';
import {
  bulkRelayRequestSchema,
  cancelCommand,
  cancelRequestSchema,
  commandDto,
  getCommand,
  listMeterCommands,
  relayRequestSchema,
  requestRelay,
  requestRelayBulk,
} from '../commands/requests.ts';
import { operators, readers } from '#domain/roles';

const commandListQuery = pagingQuery.extend({ status: z.enum(commandStatuses).optional() });

/** Who may disconnect and reconnect supply. */
const switchers = operators;

export const commandRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/meters/{id}/relay',
    access: switchers,
    params: uuidParam,
    body: relayRequestSchema,
    handle: async ({ params, body, deps, principal, requestId }) => {
      const { command } = await requestRelay(deps, params.id, body, { principal, requestId });
      return { status: 202, body: commandDto(command, deps.now()), headers: { location: `/commands/${command.id}` } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/commands/bulk',
    access: switchers,
    body: bulkRelayRequestSchema,
    handle: async ({ body, deps, principal, requestId }) => {
      const commands = await requestRelayBulk(deps, body, { principal, requestId });
      const now = deps.now();
      return { status: 202, body: { items: commands.map((c) => commandDto(c, now)) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/meters/{id}/commands',
    access: readers,
    params: uuidParam,
    query: commandListQuery,
    handle: async ({ params, query, deps }) => {
      const now = deps.now();
      return { status: 200, body: { items: (await listMeterCommands(deps.db, params.id, query)).map((c) => commandDto(c, now)) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/commands/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => ({ status: 200, body: commandDto(await getCommand(deps.db, params.id), deps.now()) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/commands/{id}/cancel',
    access: switchers,
    params: uuidParam,
    body: cancelRequestSchema,
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: commandDto(await cancelCommand(deps, params.id, body.reason, { principal, requestId }), deps.now()),
    }),
  }),
];
