// Who may do what: the roles a caller can hold (Cognito groups in the cloud, claims of local tokens),
// the role sets route tables name, and the principal every use case is told about.

export const roles = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof roles)[number];

/** Any signed-in role may read. */
export const readers: readonly Role[] = roles;
/** Changes to the registry and the quarantine, and switching supply, take an operator or an admin. */
export const operators: readonly Role[] = ['admin', 'operator'];

export interface Principal {
  subject: string;
  roles: Role[];
}
