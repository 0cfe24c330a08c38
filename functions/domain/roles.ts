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

export interface Principal {
  subject: string;
  roles: Role[];
}
