// HTTP routes for devices' MQTT credentials: issue or rotate (the secret is in this one response and
// nowhere else) and revoke. The broker rules these credentials unlock are functions/domain/device-access.ts.
import { operators } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { issueMqttCredential, revokeMqttCredential, type IssuedMqttCredential } from '../device-access/credentials.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';

const issuedDto = (c: IssuedMqttCredential) => ({
  deviceId: c.deviceId,
  username: c.username,
  clientId: c.clientId,
  password: c.password,
  issuedAt: c.issuedAt,
  rotated: c.rotated,
});

// A response carrying a secret must not be kept by any cache on the way.
const noStore = { 'cache-control': 'no-store' };

export const deviceAccessRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/devices/{id}/mqtt-credentials',
    access: operators,
    params: uuidParam,
    handle: async ({ params, deps, principal, requestId }) => ({
      status: 201,
      body: issuedDto(await issueMqttCredential(deps.db, params.id, { principal, requestId }, deps.now())),
      headers: noStore,
    }),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/devices/{id}/mqtt-credentials',
    access: operators,
    params: uuidParam,
    handle: async ({ params, deps, principal, requestId }) => {
      await revokeMqttCredential(deps.db, params.id, { principal, requestId });
      return { status: 204 };
    },
  }),
];
