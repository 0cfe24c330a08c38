// Who may do what: the roles a caller can hold (Cognito groups in the cloud, claims of local tokens),
// the role sets route tables name, and the principal every use case is told about.

export const roles = ['admin', 'operator', 'viewer', 'collector'] as const;
export type Role = (typeof roles)[number];

/** People (and the portal) may read; the collector is a machine that only posts readings. */
export const readers: readonly Role[] = ['admin', 'operator', 'viewer'];
/** Changes to the registry and the quarantine, and switching supply, take an operator or an admin. */
export const operators: readonly Role[] = ['admin', 'operator'];
/**
 * Who may post readings (POST /readings): the Modbus collector's own credential, and operators (a manual
 * or seed-style client). The collector role is refused by every other route.
 */
export const readingWriters: readonly Role[] = ['admin', 'operator', 'collector'];

/**
 * The OAuth2 scope of the collector's cloud credential: a Cognito app client with the client-credentials
 * grant, allowed this one scope of the `quantify` resource server (lib/api.ts). An access token carrying
 * it is the collector role, and nothing else.
 */
export const COLLECTOR_RESOURCE_SERVER = 'quantify';
export const COLLECTOR_SCOPE_NAME = 'readings.write';
export const COLLECTOR_SCOPE = `${COLLECTOR_RESOURCE_SERVER}/${COLLECTOR_SCOPE_NAME}`;

export interface Principal {
  subject: string;
  roles: Role[];
}
